"""The normal equations of the path model, built one activation pattern at a time.

With the gates fixed, output ``k`` of a :class:`~glai.path_model.PathModel` is linear in its
parameters (Mestre et al., 2025, arXiv:2510.00883),

    glai_k(x) = phi_k(x) . w_k,   phi_k(x) = [g_p(x) x~ (p in P_k), g_q(x) (q in Q_k), 1],

with ``x~ = [x, 1]`` (``d1 = n_0 + 1`` entries), ``P_k`` its full paths (``theta_p``, ``beta_p``)
and ``Q_k`` its partial-bias paths (``beta_q``). All outputs draw their columns from one pool of
``m`` *gate columns* ``u``: the distinct gates of full paths, those of partial-bias paths, and
the constant. Each carries ``d1`` features ``g_u(x) x~`` (a partial-bias gate or the constant
uses only the last one, ``g_u(x) * 1``). The weighted Gram matrix of the pool has blocks

    G[u, v] = X~^T diag(s g_u g_v) X~   [d1, d1],     R[u] = X~^T diag(s g_u) Y   [d1, n_L],

and the Gram matrix of output ``k`` is the principal sub-matrix on its columns: one pool Gram
serves every output (with one hidden layer and no pruning, all outputs share all of it).

Built as written, the pool Gram costs ``N (m d1)^2`` multiply-adds. **(choice, ours; exact)**
Gates are binary, so we group the samples by their activation pattern ``pi`` over a group of
gate columns: with ``C_pi = X~_pi^T diag(s) X~_pi`` the Gram of the samples that show ``pi``,

    G[u, v] = sum_pi pi_u pi_v C_pi.

All ``C_pi`` together cost one pass, ``N d1^2``, whatever the number of gates; the sum costs
``S |A| |B| d1^2`` for ``S`` distinct patterns. With few gates the whole pool Gram costs about
one ``X~^T X~`` (6 gates on 384-d inputs: 1.3x one ``X~^T X~``, 20x less than the block-by-block
product; BENCHMARKS.md). With many gates ``S`` approaches ``N``; the gate columns are then split
into groups, and each pair of groups ``(A, B)`` costs one pass over the samples where a gate of
``A`` and one of ``B`` are open (groups of one gate are the plain block-by-block product).
"""

from __future__ import annotations

import math

import torch

from glai.path_model import PathModel

__all__ = ["flat_parameters", "group_gram", "path_kernel", "pattern_gram", "unflatten"]

_C_BYTES = 1 << 26  # per-pattern Grams C_pi held at once (bytes)


def flat_parameters(model: PathModel) -> torch.Tensor:
    """The path model's unknowns, ``cat(theta.flatten(), beta, beta0)``: ``[P n0 + P + Q + K]``."""
    return torch.cat([model.theta.detach().flatten(), model.beta.detach(), model.beta0.detach()])


def unflatten(model: PathModel, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The ``{"theta", "beta", "beta0"}`` dict of a flat parameter vector (inverse of the above)."""
    a, b = model.theta.numel(), model.theta.numel() + model.beta.numel()
    dtype = model.theta.dtype
    return {
        "theta": flat[:a].reshape(model.theta.shape).to(dtype),
        "beta": flat[a:b].to(dtype),
        "beta0": flat[b:].to(dtype),
    }


def best_group_size(n: int, m: int, patterns: int) -> int:
    """Gate columns per group that minimise the estimated cost (in units of ``d1^2``).

    A pair of groups of ``g`` columns costs one pass over the rows where both have an open gate
    (``n (1 - 2^-g)^2``, gates open half the time) plus the pattern sum (``min(n, 4^g) g^2``);
    one group of all ``m`` columns costs ``n + patterns m^2`` with its exact pattern count.
    """

    def cost(g: int) -> float:
        if g >= m:
            return float(n + patterns * m * m)
        pairs = math.ceil(m / g) * (math.ceil(m / g) + 1) / 2
        return pairs * (n * (1 - 2.0**-g) ** 2 + min(n, 4**g) * g * g)

    return min(range(1, m + 1), key=cost)


def pattern_gram(
    xt: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    *,
    group_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``G[u, :, v, :] = X~^T diag(s g_u g_v) X~`` and ``R[u] = X~^T diag(s g_u) Y``.

    Args:
        xt: ``[N, d1]`` inputs with the constant appended; gates: ``[N, m]`` bool;
        targets: ``[N, K]``; sample_weight: ``[N]`` or None; group_size: gate columns per
            group (None: the cheapest by the cost model of the module docstring).

    Returns:
        ``G [m, d1, m, d1]`` and ``R [m, d1, K]`` in ``xt``'s dtype.
    """
    n, d1 = xt.shape
    m = gates.shape[1]
    xw = xt if sample_weight is None else xt * sample_weight[:, None].to(xt.dtype)
    if group_size is None:
        patterns = n
        if m < 63:
            codes = (gates.long() << torch.arange(m, device=xt.device)).sum(1)
            patterns = int(torch.unique(codes).numel())
        group_size = best_group_size(n, m, patterns)
    groups = [list(range(i, min(m, i + group_size))) for i in range(0, m, group_size)]
    G = xt.new_zeros(m, d1, m, d1)
    R = xt.new_zeros(m, d1, targets.shape[1])
    for i, A in enumerate(groups):
        for B in groups[i:]:
            _pattern_blocks(G, R if A == B else None, xt, xw, gates, targets, A, B)
    return G, R


def _pattern_blocks(
    G: torch.Tensor,
    R: torch.Tensor | None,
    xt: torch.Tensor,
    xw: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    A: list[int],
    B: list[int],
) -> None:
    """Fill ``G[A, :, B, :]`` and its transpose with sums of per-pattern Grams, and ``R[A]``
    (when given, for ``A == B``) with sums of per-pattern ``X~_pi^T diag(s) Y_pi``."""
    d1 = xt.shape[1]
    same = A == B
    cols = A if same else A + B
    sub = gates[:, cols]
    open_a = sub[:, : len(A)].any(1)
    rows = (open_a if same else open_a & sub[:, len(A) :].any(1)).nonzero().flatten()
    if rows.numel() == 0:
        return
    bit = torch.arange(len(cols), device=xt.device)
    codes = (sub[rows].long() << bit).sum(1)
    patterns, inverse, counts = torch.unique(codes, return_inverse=True, return_counts=True)
    order = rows[torch.argsort(inverse)]
    xs = xt.index_select(0, order)
    xws = xs if xw is xt else xw.index_select(0, order)
    on = ((patterns[:, None] >> bit) & 1).to(xt.dtype)  # [S, |cols|]
    on_a, on_b = on[:, : len(A)], (on if same else on[:, len(A) :])
    weights = (on_a[:, :, None] * on_b[:, None, :]).flatten(1)  # [S, |A| |B|]: pi_u pi_v
    bounds = torch.cumsum(counts, 0).tolist()
    starts = [0] + bounds[:-1]
    chunk = max(1, _C_BYTES // (d1 * d1 * xt.element_size()))
    total = xt.new_zeros(len(A) * len(B), d1 * d1)
    for c0 in range(0, len(bounds), chunk):
        c1 = min(len(bounds), c0 + chunk)
        C = xt.new_empty(c1 - c0, d1, d1)
        for s in range(c0, c1):
            torch.mm(xs[starts[s] : bounds[s]].t(), xws[starts[s] : bounds[s]], out=C[s - c0])
        total += weights[c0:c1].t() @ C.flatten(1)
    blocks = total.reshape(len(A), len(B), d1, d1)
    for i, u in enumerate(A):
        for j, v in enumerate(B):
            G[u, :, v] = blocks[i, j]
            G[v, :, u] = blocks[i, j].t()
    if R is not None:
        ys = targets.index_select(0, order).to(xt.dtype)
        per_pattern = torch.stack(
            [xws[a:b].t() @ ys[a:b] for a, b in zip(starts, bounds)]
        )  # [S, d1, K]
        R[A] = (on_a.t() @ per_pattern.flatten(1)).reshape(len(A), d1, -1)


def group_gram(
    x: torch.Tensor,
    gates: torch.Tensor,
    full: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Phi^T S Phi [D, D]`` and ``Phi^T S Y [D, K]`` of one path set, without ``Phi``.

    ``phi = [g_p x (p in full, path-major), g_p (p in full), g_q (q in bias), 1]`` (the layout
    of :func:`glai.solvers.ridge.path_features`). The blocks between full paths come from
    :func:`pattern_gram`; those with a partial-bias gate or the constant (one feature each)
    from direct products, ``N d1 |full| (|bias| + 1)`` multiply-adds.

    Args:
        x: ``[N, n_0]``; gates: ``[N, P + Q]`` bool; full, bias: path indices into the gates;
        targets: ``[N, K]``; sample_weight: ``[N]`` or None.
    """
    n, n0 = x.shape
    d1, nf = n0 + 1, full.numel()
    xt = torch.cat([x, x.new_ones(n, 1)], dim=1)
    G, R = pattern_gram(xt, gates[:, full], targets, sample_weight)  # [nf, d1, nf, d1]
    # scalar columns: the partial-bias gates and the constant, [N, |bias| + 1]
    scalar = torch.cat([gates[:, bias].to(x.dtype), x.new_ones(n, 1)], dim=1)
    sw = scalar if sample_weight is None else scalar * sample_weight[:, None].to(x.dtype)
    y = targets.to(x.dtype)
    # full x scalar: sum_i s_i g_p g_q x~_i  -> [nf, d1, |bias| + 1]
    gated = gates[:, full].to(x.dtype)
    ns = scalar.shape[1]
    step = max(1, _C_BYTES // max(1, n * ns * x.element_size()))  # paths per product
    mixed = torch.cat([
        (xt.t() @ (gated[:, p : p + step, None] * sw[:, None, :]).flatten(1))
        .reshape(d1, -1, ns).permute(1, 0, 2)
        for p in range(0, nf, step)
    ]) if nf else x.new_zeros(0, d1, ns)  # fmt: skip
    D = nf * d1 + scalar.shape[1]
    gram = x.new_empty(D, D)
    cross = x.new_empty(D, y.shape[1])
    # reorder [p][x~] into [theta (path-major), beta]: theta rows p*n0 + f, beta rows nf*n0 + p
    order = torch.cat([
        (torch.arange(nf, device=x.device)[:, None] * d1 + torch.arange(n0, device=x.device))
        .flatten(),
        torch.arange(nf, device=x.device) * d1 + n0,
    ])  # fmt: skip
    full_gram = G.reshape(nf * d1, nf * d1)[order][:, order]
    k = nf * d1
    gram[:k, :k] = full_gram
    gram[:k, k:] = mixed.reshape(nf * d1, -1)[order]
    gram[k:, :k] = gram[:k, k:].t()
    gram[k:, k:] = scalar.t() @ sw
    cross[:k] = R.reshape(nf * d1, -1)[order]
    cross[k:] = sw.t() @ y
    return gram, cross


def path_kernel(
    x: torch.Tensor,
    gates: torch.Tensor,
    full: torch.Tensor,
    bias: torch.Tensor,
    x2: torch.Tensor | None = None,
    gates2: torch.Tensor | None = None,
) -> torch.Tensor:
    """Kernel ``Phi_k(x) Phi_k(x2)^T [N, N2]`` of one output's paths (the dual form).

    ``phi_k(x) . phi_k(x') = (x~ . x~') sum_p g_p(x) g_p(x') + sum_q g_q(x) g_q(x') + 1``,
    ``O(N^2 (n_0 + |P_k|))`` instead of the primal Gram's ``O(N D^2)``.

    Args:
        full, bias: the output's full and partial-bias path indices into the gates' columns.
    """
    x2 = x if x2 is None else x2
    gates2 = gates if gates2 is None else gates2
    a, a2 = gates[:, full].to(x.dtype), gates2[:, full].to(x.dtype)
    b, b2 = gates[:, bias].to(x.dtype), gates2[:, bias].to(x.dtype)
    return (x @ x2.t() + 1) * (a @ a2.t()) + b @ b2.t() + 1
