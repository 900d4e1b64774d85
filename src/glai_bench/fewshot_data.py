"""Few-shot data: one feature matrix, one or more labelings of its rows, base/novel splits.

For WordNet (:func:`wordnet_labelings`): the glosses labelled by lexicographer file
(``lexname``) and, for nouns, by hypernym group (``hypernym``). Each labeling's classes are
split once, by the setting's ``split_seed``, into base classes (the heads train on them) and
novel classes (the tasks are drawn from them): :func:`split_classes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glai.training import resolve_device
from glai_bench import datasets
from glai_bench.data import backbone_featurizer
from glai_bench.features import array_digest, cached_features, key_digest
from glai_bench.settings import FewShotSetting

__all__ = [
    "Labeling", "FewShotData", "FEWSHOT_LOADERS", "wordnet_labelings", "split_classes",
    "split_for",
]  # fmt: skip


@dataclass
class Labeling:
    """Classes of the rows of one feature matrix: ``y [N]`` int64 (-1: in no class), names."""

    y: np.ndarray
    names: list[str]


@dataclass
class FewShotData:
    """Backbone features ``X [N, d]`` (float32, not standardised) and labelings of its rows."""

    X: np.ndarray
    labelings: dict[str, Labeling]
    info: dict[str, Any] = field(default_factory=dict)


def wordnet_labelings(min_members: int) -> tuple[list[str], dict[str, Labeling]]:
    """Glosses, labelled by lexicographer file and, for nouns, by hypernym group (groups of
    ``min_members`` or more direct hyponyms; -1 elsewhere)."""
    texts, lex_y, names = datasets.load_wordnet_glosses()
    offsets, lexfiles, hypernyms, lemmas = datasets.load_wordnet_noun_hypernyms()
    # load_wordnet_glosses lists the nouns of the kept lexicographer files first, in file order
    kept = np.isin(np.asarray(datasets.LEXNAMES)[lexfiles], names)
    hyper = hypernyms[kept]
    groups, counts = np.unique(hyper[hyper >= 0], return_counts=True)
    groups = groups[counts >= min_members]
    y_hyper = np.full(len(texts), -1, dtype=np.int64)
    y_hyper[: kept.sum()] = np.where(np.isin(hyper, groups), np.searchsorted(groups, hyper), -1)
    lemma = dict(zip(offsets.tolist(), lemmas))
    return texts, {
        "lexname": Labeling(np.asarray(lex_y), list(names)),
        "hypernym": Labeling(y_hyper, [f"{lemma[o]}.n.{o:08d}" for o in groups.tolist()]),
    }


def _wordnet(
    setting: FewShotSetting, cache_dir: str | os.PathLike[str] | None, device: str, progress: bool
) -> FewShotData:
    """MiniLM embeddings of the glosses that the setting's class splits use (cached), and the
    labelings restricted to them.

    Only the selected rows are embedded (``max_per_class`` bounds them): embedding all 117,425
    glosses takes most of an hour on a shared 2-core CPU.
    """
    texts, labelings = wordnet_labelings(setting.min_members)
    selected = {}
    for split in setting.splits:
        base, novel, _, _ = split_for(setting, labelings[split], split)
        selected[split] = np.concatenate([base, novel])
    rows = np.unique(np.concatenate(list(selected.values())))
    backbone_key, featurize = backbone_featurizer(setting, resolve_device(device), progress)
    key = {"dataset": "wordnet", "min_count": 100, "examples": False,
           "indices": array_digest(rows), **backbone_key}  # fmt: skip
    X = cached_features(
        f"wordnet-fewshot-{setting.backbone}", key,
        lambda: featurize([texts[i] for i in rows]), cache_dir=cache_dir, shape=(len(rows), None),
    )  # fmt: skip
    out = {}
    for split in setting.splits:
        y = np.full(len(rows), -1, dtype=np.int64)
        mine = np.isin(rows, selected[split])
        y[mine] = labelings[split].y[rows[mine]]
        out[split] = Labeling(y, labelings[split].names)
    return FewShotData(X, out, {"source": "WordNet 3.0 glosses", "embedded_rows": len(rows),
                                "feature_cache_key": key_digest(key)})  # fmt: skip


def _fashion(
    setting: FewShotSetting, cache_dir: str | os.PathLike[str] | None, device: str, progress: bool
) -> FewShotData:
    """EfficientNet-Lite0 features of the setting's Fashion-MNIST subsets (train, val and test
    of :func:`glai_bench.data.load_splits`, the feature cache of the classification settings
    with the same subsets), pooled into one matrix with one labeling, ``"clothing"``: the 10
    classes, some held out as novel by :func:`split_for`."""
    from dataclasses import replace

    from glai_bench.data import load_splits

    sp = load_splits(replace(setting, standardize=False), cache_dir=cache_dir, device=device,
                     progress=progress)  # fmt: skip
    X = np.concatenate([sp.X_train, sp.X_val, sp.X_test])
    y = np.concatenate([sp.y_train, sp.y_val, sp.y_test]).astype(np.int64)
    return FewShotData(X, {"clothing": Labeling(y, list(datasets.FASHION_CLASSES))},
                       {"source": "Fashion-MNIST", **sp.info})  # fmt: skip


# dataset name -> loader(setting, cache_dir, device, progress); tests register tiny data here.
FEWSHOT_LOADERS: dict[str, Callable[..., FewShotData]] = {
    "wordnet": _wordnet,
    "fashion-mnist": _fashion,
}


def split_classes(
    labeling: Labeling, n_novel: int, *, min_members: int, max_per_class: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Base and novel rows: classes of ``min_members`` or more, ``n_novel`` of them drawn as
    novel (fixed by ``seed``), at most ``max_per_class`` rows each (a fixed random subset).

    Returns:
        base rows, novel rows (sorted int64), base classes, novel classes (sorted, disjoint).
    """
    counts = np.bincount(labeling.y[labeling.y >= 0], minlength=len(labeling.names))
    classes = np.flatnonzero(counts >= min_members)
    if not 1 <= n_novel < len(classes):
        raise ValueError(
            f"n_novel={n_novel} must leave base classes: {len(classes)} classes have "
            f"{min_members} members or more"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(classes)
    novel, base = np.sort(perm[:n_novel]), np.sort(perm[n_novel:])
    rows: dict[int, np.ndarray] = {}
    for c in classes:
        idx = np.flatnonzero(labeling.y == c)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        rows[int(c)] = idx
    base_rows = np.sort(np.concatenate([rows[int(c)] for c in base]))
    novel_rows = np.sort(np.concatenate([rows[int(c)] for c in novel]))
    return base_rows, novel_rows, base.tolist(), novel.tolist()


def split_for(
    setting: FewShotSetting, labeling: Labeling, split: str
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """:func:`split_classes` with the setting's numbers for the labeling ``split``."""
    return split_classes(
        labeling, dict(setting.n_novel)[split], min_members=setting.min_members,
        max_per_class=dict(setting.max_per_class).get(split), seed=setting.split_seed,
    )  # fmt: skip
