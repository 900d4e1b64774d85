"""``glai train``: fit an MLP or GLAI head on a saved feature matrix, in one process or several.

This module owns the ``glai`` command's one parser (``glai`` and ``python -m glai`` alike):
``--version``, ``train``, and the subcommands that installed packages add through the
entry-point group ``glai.commands`` (the bench's ``demo`` and ``bench``).

    python -m glai train DATA --model glai --hidden 256 --quant-optimizer ridge --out run/
    torchrun --nproc_per_node 2 -m glai train DATA --model glai --out run/ --checkpoint run/ckpt.pt

DATA is an ``.npz`` file or a folder of ``.npy`` files holding ``X [n, n_0]``, ``y [n]``
(integer labels: classification; floats: regression) and optionally ``X_val``, ``y_val`` and
``sample_weight``. Without ``X_val`` a ``--val-fraction`` of the rows (drawn with ``--seed``)
is held out. Under ``torchrun`` each rank reads only its contiguous shard of the training rows
(``.npy`` files are memory-mapped) and the whole validation set; gloo on CPU, nccl on CUDA.
Rank 0 writes ``OUT/model.safetensors`` and ``OUT/history.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "COMMANDS_GROUP", "add_train_parser", "build_parser", "check_out", "load_features", "main",
    "run_train",
]  # fmt: skip

#: Entry-point group of the subcommands that other packages add to ``glai``: each entry is a
#: callable ``register(subparsers)`` that adds its parsers, each with
#: ``set_defaults(run=fn)``, ``fn(args, argv) -> int`` (the bench registers ``demo``, ``bench``).
COMMANDS_GROUP = "glai.commands"

Register = Callable[[Any], None]


def _number(
    kind: type,
    *,
    low: float | None = None,
    above: bool = False,
    high: float | None = None,
    auto: bool = False,
) -> Any:
    """An argparse type: a finite ``kind`` (int or float) ``>= low`` (``> low`` with ``above``)
    and ``< high``, or ``"auto"`` with ``auto``. argparse prefixes the message with the
    option's name: ``argument --quant-lr: must be a number > 0, got '-1'``."""
    what = "an integer" if kind is int else "a number"
    bounds = [f"{'>' if above else '>='} {low:g}"] if low is not None else []
    bounds += [f"< {high:g}"] if high is not None else []
    expected = " ".join([what, " and ".join(bounds)]).strip() + (" or 'auto'" if auto else "")

    def parse(text: str) -> Any:
        if auto and text == "auto":
            return text
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or (
            low is not None and (value <= low if above else value < low)
        ) or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    return parse


def add_train_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to an ``argparse`` subparsers object (``glai``'s too).

    Every default is the library's (:data:`glai.params.PARAMS`), ``"auto"`` rules included."""
    from glai import params
    from glai.solvers import ITERATIVE_KINDS, solver_names

    d = params.defaults()
    # Each option's range: argparse names the option in the error (``argument --seed: ...``).
    count, nonneg = _number(int, low=1), _number(float, low=0)
    rate = _number(float, low=0, above=True)

    def helped(name: str) -> str:  # the parameter's one-line description, its default shown
        return params.spec(name).doc.split(". ")[0].rstrip(".") + " (default: %(default)s)"

    p = sub.add_parser(
        "train",
        help="fit an MLP or GLAI head on a saved feature matrix (torchrun-launchable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", help=".npz file or folder of .npy files (X, y[, X_val, y_val])")
    p.add_argument("--model", choices=("mlp", "glai"), default=d["kind"])
    p.add_argument("--hidden", type=count, nargs="+", default=list(d["hidden_layer_sizes"]),
                   help="hidden widths (default: %(default)s)")  # fmt: skip
    p.add_argument("--optimizer", choices=solver_names(ITERATIVE_KINDS), default=d["optimizer"],
                   help="MLP / structural phase solver (default: %(default)s)")  # fmt: skip
    p.add_argument("--quant-optimizer", choices=[params.AUTO, *solver_names()],
                   default=d["quant_optimizer"], help=helped("quant_optimizer"))  # fmt: skip
    p.add_argument("--lr", type=rate, default=d["learning_rate"], help=helped("learning_rate"))
    p.add_argument("--quant-lr", type=rate, default=d["quant_learning_rate"],
                   help=f"default: lr / {params.QUANT_LR_DIVISOR:g}")  # fmt: skip
    p.add_argument("--weight-decay", type=nonneg, default=d["weight_decay"],
                   help=helped("weight_decay"))  # fmt: skip
    p.add_argument("--batch-size", type=_number(int, low=1, auto=True), default=d["batch_size"],
                   help=f"global minibatch size; auto: min({params.AUTO_BATCH_SIZE}, n_train) "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--epochs", type=count, default=d["max_epochs"],
                   help="maximum epochs per phase (default: %(default)s)")  # fmt: skip
    p.add_argument("--patience", type=count, default=d["patience"], help=helped("patience"))
    p.add_argument("--tol", type=nonneg, default=d["tol"], help=helped("tol"))
    p.add_argument("--rho", type=_number(float, low=1, auto=True), default=d["rho"],
                   help=helped("rho"))  # fmt: skip
    p.add_argument("--probe-size", type=count, default=d["probe_size"], help=helped("probe_size"))
    p.add_argument("--structure-rule", default=d["structure_rule"],
                   choices=("threshold", "relative", "window", "epochs"))  # fmt: skip
    p.add_argument("--val-fraction", type=_number(float, low=0, high=1, auto=True),
                   default=d["validation_fraction"],
                   help="held out when DATA has no X_val; auto: "
                   f"{params.AUTO_VALIDATION_FRACTION} from {params.AUTO_HOLDOUT_MIN_SAMPLES} "
                   "rows up, else nothing (training stops on the training loss; "
                   "default: %(default)s)")  # fmt: skip
    p.add_argument("--seed", type=_number(int, low=0), default=0)
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=d["device"])
    p.add_argument("--threads", type=count, default=1, help="torch threads per process")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file: written every epoch, resumed when it exists")  # fmt: skip
    p.add_argument("--out", default="train_out",
                   help="output folder, checked before training (default: train_out)")
    p.add_argument("--force", action="store_true",
                   help="overwrite a model already in --out")  # fmt: skip
    p.add_argument("--verbose", action="store_true")
    return p


def _installed_commands() -> list[Register]:
    """The registrars of :data:`COMMANDS_GROUP`, once each (a package installed twice, as in
    an editable checkout beside a wheel, lists its entry point twice)."""
    from importlib.metadata import entry_points

    found = {ep.value: ep for ep in entry_points(group=COMMANDS_GROUP)}
    return [ep.load() for ep in found.values()]


def build_parser(extensions: Sequence[Register] | None = None) -> argparse.ArgumentParser:
    """The ``glai`` parser: ``--version``, ``train``, and the subcommands of ``extensions``
    (default: every registrar installed under :data:`COMMANDS_GROUP`)."""
    from glai._version import __version__

    parser = argparse.ArgumentParser(
        prog="glai", description="GLAI (GreenLightningAI) heads against MLP heads."
    )
    parser.add_argument("--version", action="version", version=f"glai {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub).set_defaults(run=_train_command)
    for register in _installed_commands() if extensions is None else extensions:
        register(sub)
    return parser


def _arrays(data: str) -> dict[str, Any]:
    path = Path(data)
    if path.is_dir():
        return {
            f.stem: np.load(f, mmap_mode="r") for f in sorted(path.glob("*.npy"))
        }  # memory-mapped: a rank reads only the rows it indexes
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    raise ValueError(f"data {data!r} must be an .npz file or a folder of .npy files")


def load_features(
    data: str, val_fraction: float | str, seed: int, rank: int, world: int
) -> dict[str, np.ndarray]:
    """This rank's training rows (``X``, ``y``, ``sample_weight`` if saved) and the whole
    validation set (``X_val``, ``y_val``), as in-memory arrays (features as float32).

    Without a saved ``X_val``, ``val_fraction`` of the rows (``"auto"``:
    :func:`glai.params.holdout_fraction`) is held out; a fraction of 0 holds out nothing and
    returns no ``X_val``, ``y_val``."""
    from glai import validation
    from glai.params import holdout_fraction
    from glai.training.distributed import shard_bounds

    arrays = _arrays(data)
    missing = {"X", "y"} - set(arrays)
    if missing:
        raise ValueError(f"data {data!r} lacks {sorted(missing)} (has {sorted(arrays)})")
    X, y = arrays["X"], arrays["y"]
    n = len(X)
    if len(y) != n:
        raise ValueError(f"data {data!r}: X has {n} rows but y has {len(y)}")
    validation.check_pair("X_val", arrays.get("X_val"), "y_val", arrays.get("y_val"))
    if "sample_weight" in arrays and len(arrays["sample_weight"]) != n:
        raise ValueError(
            f"data {data!r}: sample_weight has {len(arrays['sample_weight'])} rows but X has {n}"
        )
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    if "X_val" in arrays:
        train_rows = np.arange(n)
        X_val, y_val = np.asarray(arrays["X_val"]), np.asarray(arrays["y_val"])
    else:
        fraction = holdout_fraction(val_fraction, n)
        if not 0 <= fraction < 1:
            raise ValueError(
                f"val_fraction must be 'auto' or in [0, 1) without X_val, got {val_fraction}"
            )
        order = np.random.default_rng(seed).permutation(n)
        n_val = int(round(fraction * n)) if fraction == 0 else max(1, int(round(fraction * n)))
        val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
        if n_val:
            X_val, y_val = np.asarray(X[val_rows]), np.asarray(y[val_rows])
    lo, hi = shard_bounds(len(train_rows), rank, world)
    mine = train_rows[lo:hi]
    out = {"X": _features(X[mine]), "y": np.asarray(y[mine])}
    if X_val is not None and y_val is not None:
        out |= {"X_val": _features(X_val), "y_val": y_val}
    if "sample_weight" in arrays:
        out["sample_weight"] = np.asarray(arrays["sample_weight"][mine])
    return out


def _features(a: Any) -> np.ndarray:
    """Features in memory: float16 and float32 as float32; anything else as it is, so that
    fit_head's checks see the values (a float64 beyond float32's range is refused by name,
    not cast to inf here)."""
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype in (np.float16, np.float32) else a


def check_out(out: str, force: bool) -> Path:
    """The folder ``--out`` names, created now: refused (naming ``--out``) when it is a file,
    cannot be created or written, or already holds a model and ``force`` is not set -- before
    any training, so a run's model is never lost at its end."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out!r} is a file, not a folder: choose another --out")
    held = [name for name in ("model.safetensors", "history.json") if (path / name).exists()]
    if held and not force:
        raise ValueError(
            f"--out {out!r} already holds a model ({', '.join(held)}): pass --force to "
            "overwrite it, or choose another --out"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {out!r} cannot be created: {err.strerror or err}") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out!r} is not writable")
    return path


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` say; rank 0 writes the model and the history. Returns the summary."""
    import torch.distributed as dist

    from glai.io import save_glai
    from glai.run import RunConfig, describe, fit_head
    from glai.training.device import resolve_device
    from glai.training.distributed import init_from_env, max_over_ranks, rank_and_world

    torch.set_num_threads(args.threads)
    device = init_from_env(resolve_device(args.device))
    rank, world = rank_and_world()
    try:
        # Rank 0 writes --out: it checks it, before anything else, and every rank stops if it
        # is refused (no rank is left waiting for the others).
        refused: ValueError | None = None
        if rank == 0:
            try:
                check_out(args.out, args.force)
            except ValueError as err:
                refused = err
        if max_over_ranks(int(refused is not None), world):
            raise refused or ValueError("--out was refused by rank 0 (see its message)")
        config = RunConfig(
            model=args.model, hidden=tuple(args.hidden), optimizer=args.optimizer,
            lr=args.lr, quant_optimizer=args.quant_optimizer, quant_lr=args.quant_lr,
            weight_decay=args.weight_decay, batch_size=args.batch_size, max_epochs=args.epochs,
            patience=args.patience, tol=args.tol, rho=args.rho,
            structure_rule=args.structure_rule, probe_size=args.probe_size, seed=args.seed,
        )  # fmt: skip
        arrays = load_features(args.data, args.val_fraction, args.seed, rank, world)
        holdout = "X_val" in arrays
        start = time.perf_counter()
        # numpy arrays: fit_head checks them as the estimators check theirs (one
        # implementation, glai.validation), then moves them to the device
        model, history = fit_head(
            config, arrays["X"], arrays["y"], arrays.get("X_val"), arrays.get("y_val"),
            sample_weight=arrays.get("sample_weight"), checkpoint=args.checkpoint,
            verbose=args.verbose and rank == 0, device=device,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        best = history.best(phase=history.final_phase)
        summary = {
            "config": vars(args) | {"hidden": list(args.hidden)},
            "rank": rank,
            "world_size": world,
            "device": str(device),
            "seconds": seconds,
            # with nothing held out, the "score" is minus the training loss: no validation score
            "best_val_score": None if best is None or not holdout else best.val_score,
            "holdout": holdout,
            "model": describe(model),
            "events": history.events,
            "records": history.to_dicts(),
        }
        if rank == 0:
            out = Path(args.out)  # checked (and created) before training
            if config.model == "glai":
                save_glai(model, out / "model.safetensors")  # type: ignore[arg-type]
            else:
                from safetensors.torch import save_file

                tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
                save_file(tensors, str(out / "model.safetensors"),
                          metadata={"glai_mlp": json.dumps(describe(model))})  # fmt: skip
            (out / "history.json").write_text(json.dumps(summary, indent=1))
        return summary
    finally:
        if world > 1:
            dist.destroy_process_group()


def _train_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        summary = run_train(args)
    except ValueError as err:
        raise SystemExit(f"glai train: {err}") from err
    if summary["rank"] == 0:
        score = summary["best_val_score"]
        said = "nothing held out" if score is None else f"best validation score {score:.4f}"
        print(
            f"{args.model}: {said} after {len(summary['records'])} "
            f"epochs, {summary['seconds']:.1f} s on {summary['world_size']} process(es); "
            f"wrote {args.out}/model.safetensors, {args.out}/history.json"
        )
    return 0


def main(argv: Sequence[str] | None = None, *, extensions: Sequence[Register] | None = None) -> int:
    """Entry point of ``glai`` and ``python -m glai``: parse ``argv`` (default ``sys.argv[1:]``)
    and run its subcommand; ``extensions`` as for :func:`build_parser`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(extensions).parse_args(argv)
    run = args.run
    del args.run  # the command's arguments alone (``glai train`` writes them to its history)
    return int(run(args, argv))
