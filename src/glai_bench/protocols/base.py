"""What every kind of bench setting answers: the interface of a protocol.

A protocol is one kind of setting (classification heads, few-shot heads, SSL projection heads,
retraining). :func:`glai_bench.bench.run_bench` runs any of them the same way::

    protocol.head_names(setting, only)           # unknown heads fail before the data load
    data = protocol.load(setting, options)       # features, cached
    outcome = protocol.run(setting, data, options)   # inside timing_context
    report = build_report(..., protocol.config(setting, only), protocol.summarize(...))
    files = protocol.figures(setting, report, folder)
    S.json, S.md = report, protocol.markdown(report)

A protocol's heads come from one table (:meth:`Protocol.heads`), from which the list of names
(progress bars, ``--only``, the tests) and the runs are both derived. Adding a kind of setting
is one module that subclasses :class:`Protocol`, a settings dataclass whose ``protocol`` names
it, and one line in :data:`glai_bench.protocols.PROTOCOLS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from tqdm.auto import tqdm

from glai_bench.data import load_splits
from glai_bench.settings import Setting

__all__ = ["Run", "Head", "Options", "Outcome", "Protocol", "head_closure"]

Run = dict[str, Any]
S = TypeVar("S", bound=Setting)
C = TypeVar("C")


@dataclass(frozen=True)
class Head(Generic[C]):
    """One row of a protocol's head table.

    ``fit(context) -> Run`` fits the head and records it (the runs of one seed are fitted in
    table order; ``context`` is the protocol's own per-seed state). ``needs``: heads whose runs
    ``fit`` reads (run first, and run whenever this one is wanted).
    """

    name: str
    fit: Callable[[C], Run]
    needs: tuple[str, ...] = ()


def head_closure(
    heads: Sequence[Head[Any]], only: set[str] | None, setting: Setting, hint: str = ""
) -> list[str]:
    """The names of ``heads`` in table order; with ``only``, those named and what they need.

    Raises:
        ValueError: a name in ``only`` that is not in the table (the message lists the table).
    """
    names = [h.name for h in heads]
    if only is None:
        return names
    unknown = sorted(only - set(names))
    if unknown:
        raise ValueError(
            f"only: no head {', '.join(unknown)} in setting {setting.name!r}; its heads are "
            f"{', '.join(names)}{hint}"
        )
    needs = {h.name: h.needs for h in heads}
    wanted, todo = set(), list(only)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += needs[name]
    return [n for n in names if n in wanted]


@dataclass(frozen=True)
class Options:
    """How :func:`glai_bench.bench.run_bench` was asked to run a setting.

    seeds: training seeds ``0 .. seeds-1``; device: where heads train and backbones run;
    only: the heads asked for (None: all; classification only); progress: show progress bars;
    cache_dir: the feature cache (None: ``$GLAI_CACHE_DIR`` or ``~/.cache/glai``).
    """

    seeds: int
    device: str = "cpu"
    only: set[str] | None = None
    progress: bool = True
    cache_dir: str | os.PathLike[str] | None = None

    @property
    def loading(self) -> dict[str, Any]:
        """The keyword arguments of the data loaders (``load_splits`` and its kin)."""
        return {"cache_dir": self.cache_dir, "device": self.device, "progress": self.progress}

    def seed_bar(self, desc: str) -> Any:
        """The seeds ``0 .. seeds - 1``, behind a progress bar named ``desc`` (hidden without
        ``progress``): the loop of every protocol that runs one seed at a time."""
        return tqdm(range(self.seeds), desc=desc, disable=not self.progress)


@dataclass
class Outcome:
    """What :meth:`Protocol.run` measured: the runs (one dict per seed and head, JSON-ready)
    and any further top-level report fields (e.g. a reference measured once)."""

    runs: list[Run]
    fields: dict[str, Any] = field(default_factory=dict)


class Protocol(Generic[S]):
    """One kind of bench setting; subclasses fill in what differs.

    Attributes:
        name: the key in :data:`glai_bench.protocols.PROTOCOLS` (a setting class's
            ``protocol``).
        supports_only: whether ``glai bench --only`` may pick heads of this kind.
        unknown_head_hint: appended to the error for an unknown head in ``only``.
        head_table: name -> fit of the heads, where they do not depend on the setting.
    """

    name: ClassVar[str]
    supports_only: ClassVar[bool] = False
    unknown_head_hint: ClassVar[str] = ""
    head_table: ClassVar[dict[str, Callable[[Any], Run]]] = {}

    def heads(self, setting: S) -> list[Head[Any]]:
        """The head table of one seed, in fitting order: by default :attr:`head_table`
        (name -> fit), the same for every setting of the kind."""
        return [Head(name, fit) for name, fit in self.head_table.items()]

    def head_names(self, setting: S, only: set[str] | None = None) -> list[str]:
        """Names of the heads of one seed (see :func:`head_closure`).

        Raises:
            ValueError: ``only`` given to a protocol that does not support it, or naming an
                unknown head.
        """
        if only is not None and not self.supports_only:
            raise ValueError(
                f"only: setting {setting.name!r} ({self.name}) runs all its heads; --only "
                "applies to the classification settings"
            )
        return head_closure(self.heads(setting), only, setting, self.unknown_head_hint)

    def load(self, setting: S, options: Options) -> Any:
        """The setting's data (features through the frozen backbone, cached); by default its
        train, validation and test splits (:func:`glai_bench.data.load_splits`)."""
        return load_splits(setting, **options.loading)

    def data_info(self, setting: S, data: Any) -> dict[str, Any]:
        """The report's ``data`` field: sizes, cache keys, ... (default ``data.info``)."""
        return dict(data.info)

    def run(self, setting: S, data: Any, options: Options) -> Outcome:
        """Every head of every seed ``0 .. options.seeds - 1`` (inside ``timing_context``); by
        default the runs of :meth:`run_seed`, one seed after the other behind a progress bar."""
        runs: list[Run] = []
        for seed in options.seed_bar(setting.stem):
            runs += self.run_seed(setting, data, seed)
        return Outcome(runs)

    def run_seed(self, setting: S, data: Any, seed: int) -> list[Run]:
        """The runs of one seed, every head (what the default :meth:`run` loops over)."""
        raise NotImplementedError

    def config(self, setting: S, only: set[str] | None) -> dict[str, Any]:
        """Fields of the report's ``config`` besides the setting, seeds, timing and command:
        the hyper-parameters the heads ran with."""
        return {}

    def summarize(self, setting: S, outcome: Outcome) -> dict[str, Any]:
        """Top-level report fields from the runs: ``aggregates`` and what goes with them."""
        raise NotImplementedError

    def figures(self, setting: S, report: dict[str, Any], folder: Path) -> dict[str, Path]:
        """Draw the setting's figures into ``folder``; ``{key: path}`` (none by default)."""
        return {}

    def markdown(self, report: dict[str, Any]) -> str:
        """The Markdown section of a report (tables, verdicts, command, machine)."""
        raise NotImplementedError
