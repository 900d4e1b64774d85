"""Closed-form solver for the quantitative phase: ridge regression onto the paths.

With the gates fixed, output ``k`` of a path model is linear in its parameters,

    glai_k(x) = phi_k(x) . w_k,   phi_k(x) = [g_p(x) x, g_p(x) (p in P_k), g_q(x) (q), 1],

so a squared loss on one-hot (or standardised) targets is one ridge problem per output,

    w_k = argmin_w  sum_i s_i (phi_k(x_i) . w - Y_ik)^2 + lam ||w||^2,

whose Gram matrix ``Phi_k^T S Phi_k`` is shared by all outputs with the same paths (every
output, with one hidden layer and no pruning). Its blocks are ``X~^T diag(s a_j a_j') X~``,
built one activation pattern at a time (:mod:`glai.solvers.gram`: with 6 gates on 384-d
inputs about one ``X~^T X~``, 10x less than forming ``phi``); one float64 Cholesky
factorisation per penalty follows (``D^3 / 3``; cheaper than one eigendecomposition for all
penalties below ~14 penalties, measured in BENCHMARKS.md). This is the exact optimum of a
regressor's training loss; for a classifier it fits squared loss to one-hot labels (see
:mod:`glai.solvers.ridge_ce` for the cross-entropy remedy). With fewer rows than unknowns
(few-shot heads) the dual form solves the same problem through the ``N x N`` kernel.

Sufficient statistics. The solution depends on the data only through, per group of outputs
sharing their paths, ``G = sum_i s_i phi_i phi_i^T`` ``[D, D]`` and ``B = sum_i s_i phi_i
Y_i^T`` ``[D, |group|]``. :class:`RidgeStatistics` holds them: rows can be added in any
chunks, in any order, by any number of calls (``partial_fit``) or processes, and the solve
equals that of one pass over all rows (up to float rounding). **Distributed use**: every rank
adds its shard, then ``for t in stats.tensors(): dist.all_reduce(t)`` (SUM) and every rank
solves to the single-process answer.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from glai.path_model import PathModel
from glai.solvers.base import Candidate, SolverConfig
from glai.solvers.gram import group_gram, path_kernel
from glai.solvers.penalty import (
    PENALTY_FOLDS,
    GroupStatistics,
    cv_scores,
    gcv_scores,
    row_folds,
)

__all__ = [
    "DualProblem", "RidgeStatistics", "accumulate", "new_statistics", "path_features", "refit",
    "ridge_paths", "ridge_unknowns", "solve", "structure_digest",
]  # fmt: skip


def ridge_unknowns(model: PathModel) -> int:
    """Unknowns of the largest per-output ridge problem: ``|P_k| (n_0 + 1) + |Q_k| + 1``."""
    is_full = torch.arange(model.num_paths, device=model.output.device) < model.num_full
    full = torch.bincount(model.output[is_full], minlength=model.out_features)
    bias = torch.bincount(model.output[~is_full], minlength=model.out_features)
    return int((full * (model.in_features + 1) + bias).max()) + 1


def path_features(
    x: torch.Tensor, gates: torch.Tensor, full: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """``phi(x) = [g_p x (p in full), g_p (p in full), g_q (q in bias), 1]``: ``[N, D]``.

    Args:
        x: ``[N, n_0]``; gates: ``[N, P + Q]`` bool; full, bias: column indices into gates.
    """
    g = gates[:, full].to(x.dtype)
    kron = (g[:, :, None] * x[:, None, :]).flatten(1)  # [N, |full| * n_0], path-major
    ones = x.new_ones(x.shape[0], 1)
    return torch.cat([kron, g, gates[:, bias].to(x.dtype), ones], dim=1)


@dataclass
class _Group:
    """Outputs that share one path set (same chains), and their statistics.

    ``full``, ``bias``: the gate columns of the first output's paths (they define ``phi``);
    ``gram [D, D]``, ``cross [D, |outputs|]``, ``target_sq [|outputs|]`` (``sum_i s_i y_ik^2``);
    with folds, the same per fold: ``fold_gram [k, D, D]``, ``fold_cross [k, D, |outputs|]``,
    ``fold_target_sq [k, |outputs|]`` (their sums are the totals).
    """

    outputs: list[int]
    full: torch.Tensor
    bias: torch.Tensor
    gram: torch.Tensor
    cross: torch.Tensor
    target_sq: torch.Tensor
    fold_gram: torch.Tensor | None = None
    fold_cross: torch.Tensor | None = None
    fold_target_sq: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        folded = [self.fold_gram, self.fold_cross, self.fold_target_sq]
        return [self.gram, self.cross, self.target_sq] + [t for t in folded if t is not None]


def output_columns(
    model: PathModel,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[int, ...]]]:
    """Per output: (full-path columns, partial-bias columns); and a key per output naming its
    path set (equal keys: equal ``phi``)."""
    is_full = torch.arange(model.num_paths, device=model.output.device) < model.num_full
    columns, keys = [], []
    for k in range(model.out_features):
        cols = (model.output == k).nonzero().flatten()
        columns.append((cols[is_full[cols]], cols[~is_full[cols]]))
        keys.append(
            tuple(model.units[cols].flatten().tolist()) + (-2,) + tuple(is_full[cols].tolist())
        )
    return columns, keys


def structure_digest(model: PathModel) -> str:
    """SHA-256 of what defines ``phi`` and the outputs: the frozen gating network's weights and
    biases (their bytes), the paths (``units``, ``output``) and the sizes. Equal digests: the
    same gates on every input and the same paths (statistics of two such models add up)."""
    h = hashlib.sha256()
    sizes = (model.in_features, *model.hidden_features, model.out_features, model.num_full)
    h.update(repr(sizes).encode())
    for name, buf in sorted(model.named_buffers()):
        h.update(name.encode())
        h.update(str(buf.dtype).encode())
        h.update(buf.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class RidgeStatistics:
    """Sufficient statistics of a path model's ridge problems: rows in, solutions out.

    Per group of outputs sharing their paths: ``gram = sum_i s_i phi_i phi_i^T [D, D]``,
    ``cross = sum_i s_i phi_i Y_i[group]^T [D, |group|]`` and ``target_sq = sum_i s_i
    Y_i[group]^2``; and ``weight_sum = sum_i s_i``. Sums commute, so :meth:`add` on chunks (or
    on ranks, then an all-reduce of :meth:`tensors`; or :meth:`merge` of statistics gathered
    apart) gives the statistics, hence the solution, of one pass over all rows; and
    :meth:`subtract` of rows added before gives those of the rows that remain.

    With ``folds=k`` the same sums are also kept per fold, the fold of a row being a hash of its
    inputs' bytes (:func:`glai.solvers.penalty.row_folds`): :meth:`choose_alpha` then scores
    penalties by exact k-fold cross-validation, and any way of gathering the same rows keeps the
    same folds, hence chooses the same penalty. Memory: ``(k + 1) D^2`` numbers per group.

    Args:
        model: the path model whose paths define ``phi`` (its parameters are not read); None
            binds the statistics to the first model solved with them (:func:`ridge_paths`),
            for callers that hold them before the freeze builds the paths.
        dtype: of the products and sums. Default float64 (choice): statistics that keep
            growing over many ``partial_fit`` calls should not lose the early rows to float32
            rounding, and a difference (:meth:`subtract`) is only as exact as the sums; the
            model's dtype halves the cost of the products.
        folds: 0 (no per-fold sums) or the ``k >= 2`` of k-fold cross-validation.
    """

    def __init__(
        self,
        model: PathModel | None = None,
        *,
        dtype: torch.dtype | None = torch.float64,
        folds: int = 0,
    ) -> None:
        if isinstance(folds, bool) or not isinstance(folds, int) or folds == 1 or folds < 0:
            raise ValueError(f"folds must be 0 (none) or an int >= 2, got {folds!r}")
        self._dtype = dtype
        self.folds = folds
        self.groups: list[_Group] = []
        self.chosen_alpha: float | None = None  # the last choice of choose_alpha
        if model is not None:
            self.bind(model)

    @property
    def bound(self) -> bool:
        """Whether the statistics know their path model's layout."""
        return hasattr(self, "_keys")

    def bind(self, model: PathModel) -> RidgeStatistics:
        """Take the path layout of ``model``, with empty sums. Returns ``self``."""
        if self.bound:
            raise ValueError("these statistics already belong to a path model")
        self.dtype = self._dtype or model.theta.dtype
        self.in_features = model.in_features
        self._follow(model)
        outputs: dict[tuple[int, ...], list[int]] = {}
        for k, key in enumerate(self._keys):
            outputs.setdefault(key, []).append(k)
        device, n0, kf = model.theta.device, self.in_features, self.folds
        zeros = partial(torch.zeros, dtype=self.dtype, device=device)
        for ks in outputs.values():
            full, bias = self._columns[ks[0]]
            dim = full.numel() * (n0 + 1) + bias.numel() + 1
            group = _Group(ks, full, bias, zeros(dim, dim), zeros(dim, len(ks)), zeros(len(ks)))
            if kf:
                group.fold_gram = zeros(kf, dim, dim)
                group.fold_cross = zeros(kf, dim, len(ks))
                group.fold_target_sq = zeros(kf, len(ks))
            self.groups.append(group)
        self.weight_sum = zeros(())
        self.fold_weight = zeros(kf)
        return self

    def _follow(self, model: PathModel) -> None:
        """Read the path layout of ``model``: per output its columns and path-set key."""
        if model.in_features != self.in_features:
            raise ValueError(
                f"the path model takes {model.in_features} inputs, the statistics "
                f"{self.in_features}"
            )
        self.out_features = model.out_features
        self.num_full, self.num_paths = model.num_full, model.num_paths
        self._columns, self._keys = output_columns(model)
        self.structure = structure_digest(model)

    @property
    def dims(self) -> list[int]:
        """Unknowns ``D`` of each group's problem."""
        return [g.gram.shape[0] for g in self.groups]

    def empty_like(self) -> RidgeStatistics:
        """Statistics of the same layout, folds and dtype, holding no row."""
        if not self.bound:
            return RidgeStatistics(dtype=self._dtype, folds=self.folds)
        empty = copy.copy(self)
        empty.groups = [
            _Group(g.outputs.copy(), g.full, g.bias,
                   *(None if t is None else torch.zeros_like(t) for t in (
                       g.gram, g.cross, g.target_sq, g.fold_gram, g.fold_cross,
                       g.fold_target_sq)))  # type: ignore[arg-type]
            for g in self.groups
        ]  # fmt: skip
        empty.weight_sum = torch.zeros_like(self.weight_sum)
        empty.fold_weight = torch.zeros_like(self.fold_weight)
        return empty

    @torch.no_grad()
    def add(
        self,
        x: torch.Tensor,
        gates: torch.Tensor,
        targets: torch.Tensor,
        weight: torch.Tensor | None = None,
        *,
        chunk_size: int = 4096,
        pattern_by_pattern: bool = True,
    ) -> RidgeStatistics:
        """Add rows: ``x [N, n_0]``, ``gates [N, P + Q]``, ``targets [N, n_L]`` (one-hot labels
        for a classifier), ``weight [N]`` (``s_i``, default 1). Returns ``self``.

        The products are built one activation pattern at a time
        (:func:`glai.solvers.gram.group_gram`: about one ``X~^T X~`` with few gates);
        ``pattern_by_pattern=False`` forms ``phi`` explicitly, ``chunk_size`` rows at a time
        (the reference the tests compare with)."""
        self._check_rows(x, gates, targets, weight)
        if not self.folds:
            self._accumulate(x, gates, targets, weight, None, chunk_size, pattern_by_pattern)
            return self
        fold = torch.as_tensor(row_folds(x, self.folds), device=x.device)
        for f in range(self.folds):
            rows = (fold == f).nonzero().flatten()
            if rows.numel():
                w = None if weight is None else weight[rows]
                self._accumulate(
                    x[rows], gates[rows], targets[rows], w, f, chunk_size, pattern_by_pattern
                )  # fmt: skip
        return self

    def _check_rows(
        self,
        x: torch.Tensor,
        gates: torch.Tensor,
        targets: torch.Tensor,
        weight: torch.Tensor | None,
    ) -> None:
        if not self.bound:
            raise ValueError("these statistics have no path model yet: bind(model) first")
        n = x.shape[0]
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape [N, {self.in_features}], got {tuple(x.shape)}")
        if gates.shape != (n, self.num_paths):
            raise ValueError(
                f"gates must have shape [{n}, {self.num_paths}], got {tuple(gates.shape)}"
            )
        if targets.shape != (n, self.out_features):
            raise ValueError(
                f"targets must have shape [{n}, {self.out_features}], got {tuple(targets.shape)}"
            )
        if weight is not None and weight.shape != (n,):
            raise ValueError(f"weight must have shape [{n}], got {tuple(weight.shape)}")

    def _accumulate(
        self,
        x: torch.Tensor,
        gates: torch.Tensor,
        targets: torch.Tensor,
        weight: torch.Tensor | None,
        fold: int | None,
        chunk_size: int,
        pattern_by_pattern: bool,
    ) -> None:
        """Add the products of these rows to the totals (and to fold ``fold``'s sums)."""
        n = x.shape[0]
        x = x.to(self.dtype)
        w = None if weight is None else weight.to(self.dtype)
        for g in self.groups:
            y = targets[:, g.outputs].to(self.dtype)
            if pattern_by_pattern:
                gram, cross = group_gram(x, gates, g.full, g.bias, y, w)
            else:
                gram, cross = torch.zeros_like(g.gram), torch.zeros_like(g.cross)
                for i in range(0, n, chunk_size):
                    rows = slice(i, i + chunk_size)
                    phi = path_features(x[rows], gates[rows], g.full, g.bias)
                    phi_w = phi if w is None else phi * w[rows, None]
                    gram += phi.t() @ phi_w
                    cross += phi_w.t() @ y[rows]
            target_sq = (y * y).sum(0) if w is None else (w[:, None] * y * y).sum(0)
            g.gram += gram
            g.cross += cross
            g.target_sq += target_sq
            if fold is not None:
                assert g.fold_gram is not None and g.fold_cross is not None
                assert g.fold_target_sq is not None
                g.fold_gram[fold] += gram
                g.fold_cross[fold] += cross
                g.fold_target_sq[fold] += target_sq
        total = torch.tensor(float(n), dtype=self.dtype) if w is None else w.sum()
        self.weight_sum += total.to(self.weight_sum.device)
        if fold is not None:
            self.fold_weight[fold] += total.to(self.fold_weight.device)

    def output_paths(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``k``'s full and partial-bias paths, in the order of its unknowns."""
        return self._columns[k]

    def tensors(self) -> list[torch.Tensor]:
        """Every accumulated tensor, in a fixed order (the same on every rank): summing each
        across ranks (``dist.all_reduce``, SUM) combines the ranks' statistics in place."""
        return [t for g in self.groups for t in g.tensors()] + [self.weight_sum, self.fold_weight]

    def _check_compatible(self, other: RidgeStatistics, verb: str) -> None:
        if not (self.bound and other.bound):
            raise ValueError(f"cannot {verb} statistics that have no path model yet")
        if self.in_features != other.in_features or self._keys != other._keys:
            raise ValueError(f"cannot {verb} statistics of different path sets")
        if self.structure != other.structure:
            raise ValueError(
                f"cannot {verb} statistics of different structures: the frozen gates or paths "
                "differ (not bit-identical), so the same rows have other path features; give "
                "every site the same frozen structure (glai.share_structure)"
            )
        if self.folds != other.folds:
            raise ValueError(
                f"cannot {verb} statistics with {self.folds} and {other.folds} folds"
            )
        if self.dtype != other.dtype:
            raise ValueError(f"cannot {verb} {self.dtype} and {other.dtype} statistics")

    def merge(self, other: RidgeStatistics) -> RidgeStatistics:
        """Add ``other``'s rows (statistics of the same structure: same gates, paths, folds and
        dtype, else a ValueError). Returns ``self``."""
        self._check_compatible(other, "merge")
        for a, b in zip(self.tensors(), other.tensors()):
            a += b.to(a.device)
        return self

    def subtract(self, other: RidgeStatistics) -> RidgeStatistics:
        """Remove ``other``'s rows, which must have been added before. Returns ``self``.

        Rows never added are refused where it shows: a total weight, a fold's weight, a
        diagonal entry of a Gram matrix (``sum_i s_i phi_ij^2``: how much a gate was open, or
        an input's energy through it) or a ``sum_i s_i y_ik^2`` (for one-hot labels the weight
        of class ``k``) that would fall below zero, beyond float rounding. Rows with the same
        sums but other values (the same row with another label that stays positive, say) are
        not detectable from sums: the caller must pass rows it added.
        """
        self._check_compatible(other, "subtract")
        checks = [("the total weight", self.weight_sum, other.weight_sum)]
        if self.folds:
            checks.append(("a fold's weight (the rows hash to folds)", self.fold_weight,
                           other.fold_weight))  # fmt: skip
        for g, h in zip(self.groups, other.groups):
            checks.append(("a gate's or input's weight (a Gram diagonal)", g.gram.diagonal(),
                           h.gram.diagonal()))  # fmt: skip
            checks.append(("an output's sum of squared targets (a class's weight)",
                           g.target_sq, h.target_sq))  # fmt: skip
            if g.fold_gram is not None and h.fold_gram is not None:
                assert g.fold_target_sq is not None and h.fold_target_sq is not None
                checks.append(("a fold's Gram diagonal", g.fold_gram.diagonal(0, 1, 2),
                               h.fold_gram.diagonal(0, 1, 2)))  # fmt: skip
                checks.append(("a fold's sum of squared targets", g.fold_target_sq,
                               h.fold_target_sq))  # fmt: skip
        for what, mine, theirs in checks:
            theirs = theirs.to(mine.device)
            left = mine - theirs
            slack = 1e-9 * (mine.abs() + theirs.abs()) + 1e-12
            if bool((left < -slack).any()):
                raise ValueError(
                    f"these rows were not all added before: removing them makes {what} "
                    "negative. Forget only rows that were fitted (the same inputs, targets "
                    "and weights)"
                )
        for a, b in zip(self.tensors(), other.tensors()):
            a -= b.to(a.device)
        return self

    def extend(self, model: PathModel) -> RidgeStatistics:
        """Follow ``model``, this model with outputs appended (new classes).

        A new output whose path set equals an existing group's joins that group with zero
        cross-products: the rows added so far had target 0 for it (one-hot labels of classes
        it is not). A path set never seen is refused: its Gram matrix would need the old rows.
        """
        if model.out_features < self.out_features:
            raise ValueError("extend only appends outputs")
        old_keys = self._keys
        self._follow(model)
        if self._keys[: len(old_keys)] != old_keys:
            raise ValueError("extend only appends outputs: the existing outputs' paths changed")
        by_key = {self._keys[g.outputs[0]]: g for g in self.groups}
        for k in range(len(old_keys), model.out_features):
            group = by_key.get(self._keys[k])
            if group is None:
                raise ValueError(
                    f"output {k} has a path set no existing output has: its statistics would "
                    "need the rows already added; give new outputs an existing path set "
                    "(glai.path_model.add_outputs does)"
                )
            group.outputs.append(k)
            group.cross = torch.cat([group.cross, group.cross.new_zeros(len(group.cross), 1)], 1)
            group.target_sq = torch.cat([group.target_sq, group.target_sq.new_zeros(1)])
            if group.fold_cross is not None and group.fold_target_sq is not None:
                fc, ft = group.fold_cross, group.fold_target_sq
                group.fold_cross = torch.cat([fc, fc.new_zeros(*fc.shape[:2], 1)], 2)
                group.fold_target_sq = torch.cat([ft, ft.new_zeros(len(ft), 1)], 1)
        return self

    def penalty_scores(self, alphas: Sequence[float], rule: str = "kfold") -> torch.Tensor:
        """Estimated squared prediction error per row for each ``alpha`` (lower is better):
        ``rule="kfold"`` (exact k-fold cross-validation from the per-fold sums; needs
        ``folds``) or ``"gcv"`` (generalised cross-validation from the totals);
        :mod:`glai.solvers.penalty`."""
        if rule == "gcv":
            n = float(self.weight_sum)
            return gcv_scores(
                [GroupStatistics(g.gram, g.cross, g.target_sq, n) for g in self.groups], alphas
            )  # fmt: skip
        if rule != "kfold":
            raise ValueError(f"rule must be 'kfold' or 'gcv', got {rule!r}")
        if not self.folds:
            raise ValueError(
                "k-fold scores need statistics kept per fold: RidgeStatistics(folds=k)"
            )
        per_fold = []
        for f in range(self.folds):
            per_fold.append([
                GroupStatistics(g.fold_gram[f], g.fold_cross[f], g.fold_target_sq[f],  # type: ignore[index]
                                float(self.fold_weight[f]))
                for g in self.groups
            ])  # fmt: skip
        return cv_scores(per_fold, alphas)

    def choose_alpha(self, alphas: Sequence[float], rule: str = "kfold") -> float:
        """The ``alpha`` of ``alphas`` with the lowest :meth:`penalty_scores` (the first of
        equal scores). The same rows, however gathered, choose the same alpha; it is also kept
        as ``chosen_alpha``."""
        if not len(alphas):
            raise ValueError("alphas must hold at least one penalty")
        self.chosen_alpha = float(alphas[int(torch.argmin(self.penalty_scores(alphas, rule)))])
        return self.chosen_alpha

    @torch.no_grad()
    def solve(
        self, alphas: Sequence[float], *, outputs: Sequence[int] | None = None
    ) -> list[dict[str, torch.Tensor]]:
        """Ridge solutions for each ``alpha``, as ``{"theta", "beta", "beta0"}`` dicts of the
        model's shapes (float64 unless ``dtype`` said otherwise).

        ``lam = alpha * mean(diag(gram))`` makes ``alpha`` scale-free; one Cholesky
        factorisation per group and alpha, in float64. With ``outputs``, only those outputs'
        entries are filled (the rest stay zero) and groups without them are skipped.
        """
        wanted = None if outputs is None else set(int(k) for k in outputs)
        device, n0 = self.weight_sum.device, self.in_features
        shapes = {"theta": (self.num_full, n0), "beta": (self.num_paths,),
                  "beta0": (self.out_features,)}  # fmt: skip
        solutions = [
            {k: torch.zeros(s, dtype=self.dtype, device=device) for k, s in shapes.items()}
            for _ in alphas
        ]
        for g in self.groups:
            if wanted is not None and wanted.isdisjoint(g.outputs):
                continue
            gram64, cross64 = g.gram.double(), g.cross.double()
            scale = float(gram64.diagonal().mean())
            eye = torch.eye(len(gram64), dtype=torch.float64, device=device)
            for sol, alpha in zip(solutions, alphas):
                factor = torch.linalg.cholesky(gram64 + (alpha * scale + 1e-12) * eye)
                w = torch.cholesky_solve(cross64, factor).to(self.dtype)  # [D, |outputs|]
                # Each output of the group has its own copy of the shared paths.
                for j, k in enumerate(g.outputs):
                    if wanted is not None and k not in wanted:
                        continue
                    full_k, bias_k = self._columns[k]
                    nf = full_k.numel()
                    sol["theta"][full_k] = w[: nf * n0, j].reshape(nf, n0)
                    sol["beta"][full_k] = w[nf * n0 : nf * (n0 + 1), j]
                    sol["beta"][bias_k] = w[nf * (n0 + 1) : nf * (n0 + 1) + bias_k.numel(), j]
                    sol["beta0"][k] = w[-1, j]
        return solutions


@torch.no_grad()
def ridge_paths(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    alphas: Sequence[float],
    *,
    sample_weight: torch.Tensor | None = None,
    chunk_size: int = 4096,
    statistics: RidgeStatistics | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[dict[str, torch.Tensor]]:
    """Ridge solutions of the path model for each ``alpha``, as parameter dicts.

    Gram and right-hand sides accumulate in the model's dtype (in ``statistics``' when given:
    its rows so far count too, it keeps these, and an unbound one binds to ``model``); the
    solve is in float64. ``chunk_size`` is ignored (kept for callers of the explicit form).

    Args:
        x: ``[N, n_0]``; gates: ``[N, P + Q]``; targets: ``[N, n_L]``.
        reduce: applied to the statistics of these rows before the solve; under
            ``torch.distributed`` a sum over the ranks, each holding a shard of the rows, so
            that every rank solves the problem of all rows (the statistics are sums over rows).
            Rows already in ``statistics`` are not reduced again.

    Returns:
        one ``{"theta", "beta", "beta0"}`` dict per alpha (shapes and dtype of the model's
        parameters).
    """
    del chunk_size  # the products are built pattern by pattern (RidgeStatistics.add)
    stats = accumulate(model, x, gates, targets, sample_weight, statistics, reduce)
    return [{k: v.to(x.dtype) for k, v in sol.items()} for sol in stats.solve(alphas)]


def _dual_coefficients(
    kernel: torch.Tensor, root: torch.Tensor, y: torch.Tensor, alpha: float, unknowns: int
) -> torch.Tensor:
    """``c = S^1/2 (S^1/2 K S^1/2 + lam I)^-1 S^1/2 y [N]``, ``lam = alpha trace(S K) / D +
    1e-12`` (``= alpha mean(diag(Phi^T S Phi))``, the primal form's): ``w = Phi^T c``."""
    system = root[:, None] * kernel * root[None, :]
    system.diagonal().add_(alpha * float(system.diagonal().sum()) / unknowns + 1e-12)
    return root * torch.cholesky_solve((root * y)[:, None], torch.linalg.cholesky(system))[:, 0]


@dataclass
class DualProblem:
    """The ridge problem of a path model on ``N < D`` rows in its dual (kernel) form.

    Per output ``k``: ``K_k = Phi_k Phi_k^T [N, N]`` (unweighted, float64), built once by
    :meth:`of` and shared by the penalty search (:meth:`cv_scores`) and the solutions
    (:meth:`candidates`); ``s [N]`` the row weights, ``y [N, n_L]`` the targets.

    Attributes:
        model: the path model (its paths and outputs).
        x: inputs ``[N, n_0]``, float64.
        gates: ``[N, P + Q]``.
        y: targets ``[N, n_L]``, float64.
        s: row weights ``[N]``, float64 (ones without ``sample_weight``).
        kernels: per output ``(full paths, partial-bias paths, K_k, D_k)``.
    """

    model: PathModel
    x: torch.Tensor
    gates: torch.Tensor
    y: torch.Tensor
    s: torch.Tensor
    kernels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]

    @classmethod
    def of(
        cls,
        model: PathModel,
        x: torch.Tensor,
        gates: torch.Tensor,
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> DualProblem:
        """The problem of these rows (``targets [N, n_L]``; ``sample_weight [N]`` or None)."""
        if targets.shape != (x.shape[0], model.out_features):
            raise ValueError(
                f"targets must have shape [{x.shape[0]}, {model.out_features}], "
                f"got {tuple(targets.shape)}"
            )
        x64 = x.double()
        s = torch.ones(len(x), dtype=torch.float64, device=x.device)
        if sample_weight is not None:
            s = sample_weight.double()
        is_full = torch.arange(model.num_paths, device=x.device) < model.num_full
        kernels = []
        for k in range(model.out_features):
            paths = (model.output == k).nonzero().flatten()
            full, bias = paths[is_full[paths]], paths[~is_full[paths]]
            unknowns = full.numel() * (model.in_features + 1) + bias.numel() + 1
            kernels.append((full, bias, path_kernel(x64, gates, full, bias), unknowns))
        return cls(model, x64, gates, targets.double(), s, kernels)

    def cv_scores(self, alphas: Sequence[float]) -> torch.Tensor:
        """The exact k-fold scores of :meth:`RidgeStatistics.penalty_scores` (``"kfold"``,
        :func:`glai.solvers.penalty.cv_scores`) through the kernels: ``[len(alphas)]``, float64.

        The same folds (:func:`~glai.solvers.penalty.row_folds` of ``x``, ``PENALTY_FOLDS``)
        and the same training solve per fold ``f`` (``lam = alpha mean(diag(G_-f))``); fold
        ``f`` is predicted by the cross kernel, ``Y^_f = K[f, -f] c(-f) [N_f]`` per output, and

            CV(alpha) = sum_k sum_f sum_{i in f} s_i (Y^_ik - Y_ik)^2 / sum_i s_i,

        one ``N_-f x N_-f`` Cholesky factorisation per output, fold and alpha (an empty fold
        scores 0; an empty training fold predicts 0, as the primal form's zero statistics do).
        """
        s, y = self.s, self.y
        fold = torch.as_tensor(row_folds(self.x, PENALTY_FOLDS), device=self.x.device)
        scores = torch.zeros(len(alphas), dtype=torch.float64)
        for k, (_, _, kernel, unknowns) in enumerate(self.kernels):
            for f in range(PENALTY_FOLDS):
                held, train = fold == f, fold != f
                if not bool(held.any()):
                    continue
                k_train, k_cross = kernel[train][:, train], kernel[held][:, train]
                for i, alpha in enumerate(alphas):
                    pred = torch.zeros(int(held.sum()), dtype=torch.float64, device=s.device)
                    if bool(train.any()):
                        c = _dual_coefficients(k_train, s[train].sqrt(), y[train, k], alpha,
                                               unknowns)  # fmt: skip
                        pred = k_cross @ c
                    scores[i] += float((s[held] * (pred - y[held, k]) ** 2).sum())
        return scores / max(float(s.sum()), 1e-12)

    def candidates(self, alphas: Sequence[float], dtype: torch.dtype) -> Iterator[Candidate]:
        """The ridge solutions, one per alpha: ``c = S^1/2 (S^1/2 K S^1/2 + lam I)^-1 S^1/2 Y``,
        ``w_k = Phi_k^T c``, with ``lam = alpha mean(diag(Phi_k^T S Phi_k)) = alpha trace(S K)
        / D`` as in the primal form; parameters cast to ``dtype``."""
        model, x, gates, root = self.model, self.x, self.gates, self.s.sqrt()
        zeros = partial(torch.zeros, dtype=torch.float64, device=x.device)
        for alpha in alphas:
            sol = {"theta": zeros(model.num_full, x.shape[1]), "beta": zeros(model.num_paths),
                   "beta0": zeros(model.out_features)}  # fmt: skip
            for k, (full, bias, kernel, unknowns) in enumerate(self.kernels):
                c = _dual_coefficients(kernel, root, self.y[:, k], alpha, unknowns)
                a_full = gates[:, full].double() * c[:, None]  # g_p(x_i) c_i
                sol["theta"][full] = a_full.t() @ x
                sol["beta"][full] = a_full.sum(0)
                sol["beta"][bias] = (gates[:, bias].double() * c[:, None]).sum(0)
                sol["beta0"][k] = c.sum()
            yield Candidate.of(sol, alpha, dtype)


@torch.no_grad()
def solve(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    config: SolverConfig,
    *,
    sample_weight: torch.Tensor | None = None,
    statistics: RidgeStatistics | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Generator[Candidate, float, None]:
    """The registry's entry point: the solutions of :func:`ridge_paths` for each of
    ``config.alphas``, one ``alpha`` at a time (each after its own factorisation), as
    :class:`~glai.solvers.base.Candidate` s that carry their ``alpha``; the rows accumulate
    into ``statistics`` when given, so the caller can add rows later.

    With fewer rows than unknowns, no ``statistics`` to keep and no ``reduce``, the dual
    (kernel) form: the same solutions at ``O(N^2 (n_0 + |P_k|) + N^3 / 3)`` per output.
    ``config.penalty`` ``"kfold"`` or ``"gcv"``: one candidate, at the alpha the statistics
    choose (:meth:`RidgeStatistics.choose_alpha`; ``statistics`` default to new ones, per
    fold); ``"kfold"`` in the dual form chooses the same alpha from the same folds through
    the kernels (:meth:`DualProblem.cv_scores`, no ``D x D`` statistics), ``"gcv"`` stays primal.
    """
    alphas, penalty = config.alphas, getattr(config, "penalty", "holdout")
    dual = statistics is None and reduce is None and x.shape[0] < ridge_unknowns(model)
    if dual and penalty in ("holdout", "kfold"):
        problem = DualProblem.of(model, x, gates, targets, sample_weight)
        if penalty == "kfold":
            if not len(alphas):
                raise ValueError("alphas must hold at least one penalty")
            scores = problem.cv_scores(alphas)
            alphas = (float(alphas[int(torch.argmin(scores))]),)  # the first of equal scores
        yield from problem.candidates(alphas, x.dtype)
        return
    if penalty != "holdout":
        if statistics is None:
            statistics = new_statistics(model, penalty)
        stats = accumulate(model, x, gates, targets, sample_weight, statistics, reduce)
        yield from _solutions(stats, (stats.choose_alpha(alphas, penalty),), x.dtype)
        return
    stats = accumulate(model, x, gates, targets, sample_weight, statistics, reduce)
    yield from _solutions(stats, alphas, x.dtype)


def _solutions(
    stats: RidgeStatistics, alphas: Sequence[float], dtype: torch.dtype
) -> Iterator[Candidate]:
    """One candidate per ``alpha``, each solved (factorised) only when asked for."""
    for alpha in alphas:
        (sol,) = stats.solve([alpha])
        yield Candidate.of(sol, alpha, dtype)


def accumulate(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    statistics: RidgeStatistics | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> RidgeStatistics:
    """The statistics of these rows (summed over the ranks with ``reduce``), added to
    ``statistics`` when given (an unbound one binds to ``model``); new ones are float64,
    whatever the dtype of ``x``."""
    if targets.shape != (x.shape[0], model.out_features):
        raise ValueError(
            f"targets must have shape [{x.shape[0]}, {model.out_features}], "
            f"got {tuple(targets.shape)}"
        )
    if statistics is not None and not statistics.bound:
        statistics.bind(model)
    if reduce is None:
        # float64 (RidgeStatistics' default), as the estimators keep them: a float32 Gram
        # matrix loses digits to rounding, and more under TF32 (torch.backends.cuda.matmul.
        # allow_tf32), which a user may switch on for the rest of their program.
        stats = RidgeStatistics(model) if statistics is None else statistics
        return stats.add(x, gates, targets, sample_weight)
    dtype = torch.float64 if statistics is None else statistics.dtype
    folds = 0 if statistics is None else statistics.folds
    rows = RidgeStatistics(model, dtype=dtype, folds=folds).add(x, gates, targets, sample_weight)
    for t in rows.tensors():
        t.copy_(reduce(t))
    return rows if statistics is None else statistics.merge(rows)


def new_statistics(model: PathModel | None, penalty: str) -> RidgeStatistics:
    """Empty float64 statistics for :func:`solve` to fill (bound to ``model`` when given; an
    unbound one binds to the first model it sees), kept per fold for the ``"kfold"`` rule."""
    return RidgeStatistics(model, folds=PENALTY_FOLDS if penalty == "kfold" else 0)


@torch.no_grad()
def refit(
    statistics: RidgeStatistics,
    alphas: Sequence[float],
    penalty: str = "holdout",
    outputs: Sequence[int] | None = None,
) -> list[Candidate]:
    """The ridge solutions of the kept ``statistics`` alone, in their dtype (float64): one per
    ``alpha`` (``penalty="holdout"``), or one at the alpha the rule chooses (``"kfold"``,
    ``"gcv"``: :meth:`RidgeStatistics.choose_alpha`). With ``outputs``, only those outputs'
    entries are solved (the rest are zero)."""
    if penalty != "holdout":
        alphas = (statistics.choose_alpha(alphas, penalty),)
    return [
        Candidate.of(sol, alpha)
        for sol, alpha in zip(statistics.solve(alphas, outputs=outputs), alphas)
    ]
