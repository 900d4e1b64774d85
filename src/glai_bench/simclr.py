"""`glai bench fashion-effnet-simclr`: SimCLR projection heads on a frozen backbone.

The backbone is frozen, so the features of a fixed number ``V`` of augmented views of every
image are extracted once and cached (:func:`augment`, :func:`load_views`); each epoch a head
sees two different views per image (:func:`glai.ssl.fit_projection_head`). Per seed, the MLP
projection head and the GLAI projection head at the same parameter count are trained on the
same views, and scored the way SSL papers do, on the labelled splits and the clean (not
augmented) images:

* linear probe: logistic regression on the head's embeddings of the training images, test
  accuracy; kNN: k=20 nearest training embeddings by cosine similarity, majority vote, test
  accuracy; both also on the raw backbone features (the reference a head should not lose to);
* NT-Xent of held-out views (views 0 and 1 of the validation images);
* every epoch, a kNN probe accuracy on the validation images (the "probe" whose best the
  GLAI head races to; its time is off the training clock).

Outputs: ``S.json``, ``S.md`` and ``S-curves.png`` (held-out loss and probe accuracy against
seconds, seed 0), ``S-path-distance.png`` (``m_t`` of the GLAI head, seed 0).
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm.auto import tqdm

from glai import GLAI, ProjectionHead, StopRule, fit_projection_head
from glai.ssl import SSLHistory
from glai.training import TrainConfig, predict_batched
from glai_bench import plots
from glai_bench.data import (
    LOADERS,
    backbone_featurizer,
    load_splits,
    raw_features,
    split_indices,
    take_subset,
)
from glai_bench.features import array_digest, cached_features, key_digest
from glai_bench.report import git_commit, jsonable, machine, machine_line, versions, write_json
from glai_bench.runner import timing_context
from glai_bench.settings import SSLSetting
from glai_bench.stats import ALPHA, paired_test, summarize

__all__ = [
    "SSLData",
    "augment",
    "load_views",
    "knn_accuracy",
    "linear_probe_accuracy",
    "run_ssl_seed",
    "run_ssl_bench",
]

Run = dict[str, Any]
HEADS = ("mlp", "glai")


# -- views -------------------------------------------------------------------------------------


def augment(
    images: np.ndarray,
    n_views: int,
    *,
    seed: int,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    max_rotation: float = 10.0,
    max_translation: float = 0.1,
    flip: bool = True,
) -> np.ndarray:
    """``n_views`` random views of each grayscale image: uint8 ``[N, H, W] -> [N, V, H, W]``.

    One affine resampling per view (bilinear, zero padding: Fashion-MNIST's background is 0),
    mapping output coordinates ``u`` in ``[-1, 1]^2`` to input ones
    ``x = R(a) diag(f w, h) u + c``: a random resized crop of area ``w h`` in ``scale`` (of the
    image) and aspect ``w / h`` in ``ratio`` (log-uniform; sides capped at the image's),
    centred at ``c`` anywhere the crop fits plus a shift of up to ``max_translation`` (of the
    half-side); a horizontal flip ``f = -1`` with probability 1/2; a rotation ``a`` of up to
    ``max_rotation`` degrees either way.
    (choice) No colour jitter or blur: the images are grayscale and 28 px.
    """
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 [N, H, W], got {images.dtype} {images.shape}")
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    g = torch.Generator().manual_seed(seed)
    n = images.shape[0] * n_views

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=g)

    area = uniform(*scale)
    log_ratio = uniform(math.log(ratio[0]), math.log(ratio[1]))
    w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
    h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    cx = (1 - w) * uniform(-1, 1) + max_translation * uniform(-1, 1)
    cy = (1 - h) * uniform(-1, 1) + max_translation * uniform(-1, 1)
    f = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    a = torch.deg2rad(uniform(-max_rotation, max_rotation))
    cos, sin = a.cos(), a.sin()
    theta = torch.stack(
        [torch.stack([cos * f * w, -sin * h, cx], 1), torch.stack([sin * f * w, cos * h, cy], 1)],
        dim=1,
    )  # [N V, 2, 3]
    x = torch.from_numpy(images).float().repeat_interleave(n_views, dim=0)[:, None]
    out = []
    for xs, ts in zip(x.split(4096), theta.split(4096)):
        grid = F.affine_grid(ts, list(xs.shape), align_corners=False)
        out.append(F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False))  # fmt: skip
    views = torch.cat(out).round().clamp(0, 255).to(torch.uint8)[:, 0]
    return views.reshape(images.shape[0], n_views, *images.shape[1:]).numpy()


@dataclass
class SSLData:
    """Standardised features (train statistics of the clean images) of one SSL setting.

    ``views [N, V, d]``: augmented views of the training images; ``views_val [M, V', d]``: of
    the validation images; ``X_*``: clean images of each split, ``y_*`` their labels (the
    probes' only use of labels).
    """

    views: np.ndarray
    views_val: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def load_views(
    setting: SSLSetting,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> SSLData:
    """Clean features of the setting's splits and cached features of augmented views.

    The views' cache key holds everything the clean features' key holds (source, subset
    indices, backbone) plus the augmentation and its seed, so a change to any of them
    extracts afresh.
    """
    clean = load_splits(
        replace(setting, standardize=False), cache_dir=cache_dir, device=device,
        progress=progress,
    )  # fmt: skip
    raw = LOADERS[setting.dataset](setting)
    indices = split_indices(setting, raw)
    backbone_key: dict[str, Any] = {"backbone": None}
    featurize: Callable[[Any], np.ndarray] = raw_features
    if setting.backbone is not None:
        from glai.training import resolve_device

        backbone_key, featurize = backbone_featurizer(setting, resolve_device(device), progress)
    aug = setting.augmentation()
    all_views: dict[str, np.ndarray] = {}
    keys: dict[str, str] = {}
    for name, n_views in (("train", setting.n_views), ("val", setting.n_val_views)):
        source, idx = indices[name]
        assert source == "train"
        images = np.asarray(take_subset(raw.X_train, idx))
        seed = setting.split_seed * 1000 + (1 if name == "train" else 2)
        key = {
            "dataset": setting.dataset, **raw.key, "source_split": source,
            "indices": array_digest(idx), **backbone_key, "views": n_views,
            "augment": aug, "augment_seed": seed,
        }  # fmt: skip

        def compute(images: np.ndarray = images, n_views: int = n_views,
                    seed: int = seed) -> np.ndarray:  # fmt: skip
            views = augment(images, n_views, seed=seed, **aug)
            flat = views.reshape(-1, *views.shape[2:])
            return featurize(flat).reshape(len(images), n_views, -1)

        stem = f"{setting.dataset}-{name}-views{n_views}-{setting.backbone or 'raw'}"
        if setting.resolution is not None:
            stem += f"-{setting.resolution}px"
        all_views[name] = cached_features(
            stem, key, partial(compute), cache_dir=cache_dir, shape=(len(idx), n_views, None)
        )
        keys[name] = key_digest(key)
    mean = clean.X_train.mean(axis=0, dtype=np.float64)
    std = clean.X_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32) if setting.standardize else x

    info = {
        **clean.info, "standardized": setting.standardize,
        "views": {"train": setting.n_views, "val": setting.n_val_views},
        "augmentation": aug, "view_cache_keys": keys,
    }  # fmt: skip
    return SSLData(
        scale(all_views["train"]), scale(all_views["val"]), scale(clean.X_train),
        clean.y_train, scale(clean.X_val), clean.y_val, scale(clean.X_test), clean.y_test,
        info,
    )  # fmt: skip


# -- probes ------------------------------------------------------------------------------------


def knn_accuracy(
    z_ref: np.ndarray, y_ref: np.ndarray, z: np.ndarray, y: np.ndarray, k: int = 20
) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine similarity) of ``z`` among ``z_ref``."""
    knn = KNeighborsClassifier(n_neighbors=min(k, len(y_ref)), metric="cosine",
                               algorithm="brute")  # fmt: skip
    return float(knn.fit(z_ref, y_ref).score(z, y))


def linear_probe_accuracy(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> float:
    """Test accuracy of logistic regression on standardised embeddings of the training images."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(probe.fit(z_train, y_train).score(z_test, y_test))


def _embed(head: nn.Module, x: torch.Tensor) -> np.ndarray:
    return predict_batched(head, (x,)).numpy()


# -- runs --------------------------------------------------------------------------------------


def _final(history: SSLHistory) -> tuple[str, list[int]]:
    """The phase of the returned model and the indices of its epochs."""
    phase = history.final_phase
    assert phase is not None
    return phase, [i for i, r in enumerate(history.records) if r.phase == phase]


def warm_up(setting: SSLSetting, data: SSLData, device: str = "cpu") -> None:
    """Both heads for two epochs on a slice of the views, untimed, so that no timed run pays
    first-call costs (seed 0's first MLP epoch took ~4 s instead of ~0.7 s without this)."""
    views = torch.from_numpy(data.views[:256]).to(device)
    for kind in HEADS:
        head = ProjectionHead(data.views.shape[2], setting.hidden, setting.out_features,
                              kind=kind, batch_norm=setting.batch_norm, device=device)  # fmt: skip
        rule = StopRule("epochs", epochs=1, min_epochs=1)
        fit_projection_head(
            head, views, views, config=TrainConfig(max_epochs=2), rule=rule, random_state=0
        )


def run_ssl_seed(
    setting: SSLSetting, data: SSLData, seed: int, *, device: str = "cpu"
) -> list[Run]:
    """The MLP head, then the GLAI head at its parameter count, on the same views and seed."""
    dev = torch.device(device)
    views = torch.from_numpy(data.views).to(dev)
    views_val = torch.from_numpy(data.views_val).to(dev)
    X_train, X_val = torch.from_numpy(data.X_train).to(dev), torch.from_numpy(data.X_val).to(dev)
    X_test = torch.from_numpy(data.X_test).to(dev)
    config = TrainConfig(**setting.train_kwargs())
    runs: list[Run] = []
    targets: dict[str, float] = {}
    for kind in HEADS:
        torch.manual_seed(seed)
        head = ProjectionHead(
            data.views.shape[2], setting.hidden, setting.out_features, kind=kind,
            batch_norm=setting.batch_norm, device=dev,
        )  # fmt: skip

        def probe(model: nn.Module) -> float:
            return knn_accuracy(_embed(model, X_train), data.y_train, _embed(model, X_val),
                                data.y_val, setting.knn_k)  # fmt: skip

        gc.collect()
        t0 = time.perf_counter()
        history = fit_projection_head(
            head, views, views_val, temperature=setting.temperature, config=config,
            random_state=seed, probe_fn=probe,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        phase, mine = _final(history)
        best_loss = min(history.records[i].val_loss for i in mine)
        best_probe = max(history.probe_scores[i] for i in mine)
        if kind == "mlp":
            targets = {"loss": best_loss, "probe": best_probe}
        z_train, z_test = _embed(head, X_train), _embed(head, X_test)
        loss_hit = history.first_reaching(-targets["loss"], phase)
        probe_hit = history.first_probe_reaching(targets["probe"], phase)
        own_best = history.first_reaching(-best_loss, phase)
        own_best_probe = history.first_probe_reaching(best_probe, phase)
        assert own_best is not None and own_best_probe is not None
        run: Run = {
            "model": kind, "seed": seed,
            "params": sum(p.numel() for p in head.parameters() if p.requires_grad),
            "best_val_loss": best_loss, "best_knn_val": best_probe,
            "knn_test": knn_accuracy(z_train, data.y_train, z_test, data.y_test, setting.knn_k),
            "linear_test": linear_probe_accuracy(z_train, data.y_train, z_test, data.y_test),
            "epochs": len(history.records), "seconds": history.records[-1].seconds,
            "wall_seconds_with_probes": wall,
            "seconds_to_best_loss": own_best.seconds,
            "seconds_to_best_knn": own_best_probe.seconds,
            "seconds_to_mlp_best_loss": None if loss_hit is None else loss_hit.seconds,
            "epochs_to_mlp_best_loss": None if loss_hit is None else loss_hit.epoch,
            "seconds_to_mlp_best_knn": None if probe_hit is None else probe_hit.seconds,
            "epochs_to_mlp_best_knn": None if probe_hit is None else probe_hit.epoch,
            "events": dict(history.events),
            "history": [
                {**r, "knn_val": p} for r, p in zip(history.to_dicts(), history.probe_scores)
            ],
        }  # fmt: skip
        if isinstance(head, GLAI):
            run.update(
                rho=float(head.rho), structural_widths=list(head.structural_features),
                num_paths=int(head.num_paths),
                structure_frozen_epoch=int(history.events["structure_frozen_epoch"]),
            )  # fmt: skip
        runs.append(run)
    return runs


# -- statistics and verdict --------------------------------------------------------------------

METRICS = (
    "params", "best_val_loss", "best_knn_val", "knn_test", "linear_test", "epochs", "seconds",
    "seconds_to_best_loss", "seconds_to_mlp_best_loss", "seconds_to_mlp_best_knn",
    "structure_frozen_epoch",
)  # fmt: skip


def _speedups(mlp: dict[int, Run], glai: dict[int, Run], own: str, reach: str) -> list[Any]:
    """Per seed: MLP seconds to its own best / GLAI seconds to reach it (None: never)."""
    out: list[float | None] = []
    for s in sorted(mlp):
        t = glai[s][reach]
        out.append(None if t is None or t <= 0 else mlp[s][own] / t)
    return out


def compare_heads(runs: list[Run]) -> dict[str, Any]:
    """GLAI against the MLP head, paired by seed: quality tests, times to the MLP's bests."""
    mlp = {r["seed"]: r for r in runs if r["model"] == "mlp"}
    glai = {r["seed"]: r for r in runs if r["model"] == "glai"}
    seeds = sorted(set(mlp) & set(glai))
    mlp, glai = {s: mlp[s] for s in seeds}, {s: glai[s] for s in seeds}
    out: dict[str, Any] = {"seeds": seeds}
    for metric in ("knn_test", "linear_test", "best_val_loss", "best_knn_val"):
        out[metric] = paired_test([glai[s][metric] for s in seeds], [mlp[s][metric] for s in seeds])
    for target, own, reach in (
        ("loss", "seconds_to_best_loss", "seconds_to_mlp_best_loss"),
        ("knn", "seconds_to_best_knn", "seconds_to_mlp_best_knn"),
    ):
        per_seed = _speedups(mlp, glai, own, reach)
        reached = [s for s in seeds if glai[s][reach] is not None]
        out[f"time_to_mlp_best_{target}"] = {
            "speedup": {"per_seed": per_seed, **summarize(per_seed)},
            "test": paired_test([mlp[s][own] for s in reached], [glai[s][reach] for s in reached]),
        }
    return out


def _who(test: dict[str, Any], higher_is_better: bool, what: str, scale: float, unit: str) -> str:
    diff, p = test["mean_diff"], test["t_pvalue"]
    if diff is None:
        return f"{what}: no paired runs"
    better = (diff > 0) == higher_is_better
    shown = f"GLAI - MLP = {scale * diff:+.3g}{unit}, p={'n/a' if p is None else f'{p:.3g}'}"
    if p is not None and p < ALPHA and diff != 0:
        return f"{what}: {'GLAI' if better else 'MLP'} wins ({shown})"
    return f"{what}: no significant difference ({shown})"


def ssl_verdict(comparison: dict[str, Any]) -> list[str]:
    """Plain sentences: who wins on each measure, and whether GLAI got to the MLP's bests."""
    lines = [
        _who(comparison["linear_test"], True, "linear-probe test accuracy", 100, " pts"),
        _who(comparison["knn_test"], True, "kNN (k=20, cosine) test accuracy", 100, " pts"),
        _who(comparison["best_val_loss"], False, "best held-out NT-Xent", 1, ""),
    ]
    n = len(comparison["seeds"])
    for target, what in (("loss", "best held-out loss"), ("knn", "best kNN probe accuracy")):
        sp = comparison[f"time_to_mlp_best_{target}"]["speedup"]
        if sp["n"] == 0:
            lines.append(f"time to the MLP's {what}: GLAI never reached it (0 of {n} seeds)")
        else:
            lines.append(
                f"time to the MLP's {what}: GLAI reached it in {sp['n']} of {n} seeds, "
                f"speedup (MLP time to its best / GLAI time) mean {sp['mean']:.2f}x, "
                f"median {sp['median']:.2f}x"
            )
    return lines


# -- report ------------------------------------------------------------------------------------


def _fmt(s: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    if s.get("mean") is None:
        return "never"
    text = f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"
    return text + (f" ({s['n']}/{s['n'] + s['n_missing']})" if s["n_missing"] else "")


def markdown(report: dict[str, Any]) -> str:
    """The setting's table over seeds, the raw-feature reference, the verdict, the machine."""
    cfg, agg, data = report["config"], report["aggregates"], report["data"]
    raw = report["raw_features"]
    n = len(cfg["seeds"])
    lines = [
        f"### {report['setting']}",
        "",
        f"{cfg['setting']['description']}. Images {data['sizes']}; views per image "
        f"{data['views']}; {n} seeds; mean ± std over seeds. Accuracies on the clean test "
        "images; kNN: k=20, cosine; NT-Xent: held-out views, blocks of the batch size.",
        "",
        "| head | params | linear probe test % | kNN test % | best held-out NT-Xent "
        "| best kNN val % | s to own best loss | s to MLP's best loss | s to MLP's best kNN val "
        "| epochs | freeze epoch | s total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in agg["models"].items():
        freeze = s.get("structure_frozen_epoch")
        lines.append("| " + " | ".join([
            name, f"{s['params']['mean']:,.0f}", _fmt(s["linear_test"], 100),
            _fmt(s["knn_test"], 100), _fmt(s["best_val_loss"], digits=3),
            _fmt(s["best_knn_val"], 100), _fmt(s["seconds_to_best_loss"]),
            _fmt(s["seconds_to_mlp_best_loss"]), _fmt(s["seconds_to_mlp_best_knn"]),
            _fmt(s["epochs"], digits=1), "-" if freeze is None else _fmt(freeze, digits=1),
            _fmt(s["seconds"]),
        ]) + " |")  # fmt: skip
    lines.append(
        f"| backbone features, no head | - | {100 * raw['linear_test']:.2f} "
        f"| {100 * raw['knn_test']:.2f} | - | {100 * raw['knn_val']:.2f} | - | - | - | - | - | - |"
    )
    lines.append("")
    lines += [f"- {text}" for text in agg["verdict"]]
    lines += ["", f"Command: `{cfg['command']}`", "", machine_line(report["machine"]), ""]
    return "\n".join(lines)


def plot_curves(runs: list[Run], path: Path, *, title: str = "") -> Path:
    """Held-out NT-Xent and kNN validation accuracy against seconds, both heads of one seed."""
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    for i, run in enumerate(runs):
        hist = run["history"]
        t = [h["seconds"] for h in hist]
        label = f"{run['model']} ({run['params']:,} params)"
        left.plot(t, [h["val_loss"] for h in hist], color=f"C{i}", label=label)
        right.plot(t, [100 * h["knn_val"] for h in hist], color=f"C{i}", label=label)
        frozen = run.get("structure_frozen_epoch")
        if frozen:
            for ax in (left, right):
                ax.axvline(hist[frozen - 1]["seconds"], color=f"C{i}", ls=":", lw=1,
                           label="GLAI structure frozen" if ax is left else None)  # fmt: skip
    left.set(xlabel="training seconds", ylabel="held-out NT-Xent", title="contrastive loss")
    right.set(xlabel="training seconds", ylabel="kNN val accuracy %", title="probe")
    left.legend(fontsize=8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def run_ssl_bench(
    setting: SSLSetting,
    *,
    out: str | os.PathLike[str] = "results",
    seeds: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Run an SSL setting over seeds and write its JSON, Markdown and figures."""
    git_commit()
    data = load_views(setting, cache_dir=cache_dir, device=device, progress=progress)
    n_seeds = setting.seeds if seeds is None else seeds
    runs: list[Run] = []
    with timing_context(threads) as timing:
        raw = {
            "linear_test": linear_probe_accuracy(data.X_train, data.y_train, data.X_test,
                                                 data.y_test),
            "knn_test": knn_accuracy(data.X_train, data.y_train, data.X_test, data.y_test,
                                     setting.knn_k),
            "knn_val": knn_accuracy(data.X_train, data.y_train, data.X_val, data.y_val,
                                    setting.knn_k),
        }  # fmt: skip
        warm_up(setting, data, device)
        for seed in tqdm(range(n_seeds), desc=setting.stem, unit="seed", disable=not progress):
            runs += run_ssl_seed(setting, data, seed, device=device)
    comparison = compare_heads(runs)
    models = {
        name: {
            m: summarize([r.get(m) for r in runs if r["model"] == name])
            for m in METRICS if any(m in r for r in runs if r["model"] == name)
        }
        for name in HEADS
    }  # fmt: skip
    report = jsonable({
        "setting": setting.stem,
        "config": {"setting": asdict(setting), "seeds": list(range(n_seeds)), "device": device,
                   **timing, "train": setting.train_kwargs(), "command": command},
        "data": data.info, "versions": versions(), "machine": machine(timing["threads"], device),
        "raw_features": raw, "runs": runs,
        "aggregates": {"models": models, "comparison": comparison,
                       "verdict": ssl_verdict(comparison)},
    })  # fmt: skip
    folder = Path(out)
    stem = setting.stem
    first = [r for r in runs if r["seed"] == 0]
    files = {"curves": plot_curves(first, folder / f"{stem}-curves.png",
                                   title=f"{stem}: seed 0")}  # fmt: skip
    glai_run = next(r for r in first if r["model"] == "glai")
    files["path_distance"] = plots.plot_path_distance(
        glai_run["history"], folder / f"{stem}-path-distance.png",
        freeze_epoch=glai_run["structure_frozen_epoch"], title=f"{stem}: GLAI head, seed 0",
    )  # fmt: skip
    report["files"] = {k: p.name for k, p in files.items()}
    files["json"] = write_json(report, folder / f"{stem}.json")
    files["markdown"] = folder / f"{stem}.md"
    files["markdown"].write_text(markdown(report))
    report["files"] = {k: str(p) for k, p in files.items()}
    return report
