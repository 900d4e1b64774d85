"""Few-shot tasks (episodes): ``N`` classes, ``K`` support and ``Q`` query samples of each.

The sampler has the semantics of easyfsl's ``TaskSampler`` (N distinct classes, then K + Q
distinct samples of each, support first). easyfsl itself is not a dependency: installing it
pulls torchvision, whose current release needs another torch than the one glai pins.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

__all__ = ["RandomState", "Tasks", "sample_tasks"]

RandomState = int | np.random.Generator | None


def _positive(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Tasks:
    """``T`` few-shot tasks as indices into one data set ``(X, y)``.

    Attributes:
        support: int64 ``[T, N, K]``: ``support[t, n]`` are the K support samples of class n.
        query: int64 ``[T, N, Q]``, disjoint from the support of the same task.
        classes: ``[T, N]`` the label of ``support[t, n]`` and ``query[t, n]`` (N distinct).
    """

    support: np.ndarray
    query: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.support)

    def __getitem__(self, index: slice) -> Tasks:
        """The tasks ``index`` selects (a slice), in their order: ``tasks[200:400]``.

        Raises:
            TypeError: ``index`` is not a slice.
        """
        if not isinstance(index, slice):
            raise TypeError(f"Tasks takes a slice (tasks[lo:hi]), got {index!r}")
        return Tasks(self.support[index], self.query[index], self.classes[index])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(T, N, K, Q)``."""
        t, n, k = self.support.shape
        return t, n, k, self.query.shape[2]


def _check_labels(y: Any, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array of labels, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; labels must be finite")
    return y


def sample_tasks(
    y: Any,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    n_tasks: int,
    random_state: RandomState = None,
) -> Tasks:
    """Draw ``n_tasks`` tasks of ``n_way`` classes with ``k_shot + n_query`` samples each.

    Every class of ``y`` may be drawn, so each needs at least ``k_shot + n_query`` samples:
    pass the labels of the novel classes only to evaluate on them. Same ``random_state`` (an
    int), same tasks.

    Args:
        y: labels ``[n_samples]`` (any hashable values).
        random_state: int seed, ``numpy.random.Generator`` (advanced in place) or None.

    Raises:
        ValueError: a class with fewer than ``k_shot + n_query`` samples, or ``n_way`` larger
            than the number of classes.
    """
    y = _check_labels(y)
    if not isinstance(n_way, bool) and isinstance(n_way, Integral) and n_way == 1:
        raise ValueError("n_way must be >= 2: a task with one class has nothing to tell apart")
    n_way = _positive("n_way", n_way, low=2)
    k_shot = _positive("k_shot", k_shot)
    n_query = _positive("n_query", n_query)
    n_tasks = _positive("n_tasks", n_tasks)
    labels, encoded = np.unique(y, return_inverse=True)
    need = k_shot + n_query
    counts = np.bincount(encoded, minlength=len(labels))
    if counts.min() < need:
        small = np.flatnonzero(counts < need)
        raise ValueError(
            f"{len(small)} class(es) have fewer than k_shot + n_query = {need} samples "
            f"(class {labels[small[0]]!r} has {counts[small[0]]}); lower k_shot or n_query, "
            "or drop those classes from y"
        )
    if n_way > len(labels):
        raise ValueError(
            f"n_way={n_way} is larger than the {len(labels)} classes in y; lower n_way"
        )
    rng = np.random.default_rng(random_state)
    members = np.argsort(encoded, kind="stable")  # the samples of class c: members[start[c]:...]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # N distinct classes per task: the first N of a random permutation of the classes.
    chosen = rng.random((n_tasks, len(labels))).argsort(axis=1)[:, :n_way]
    # K + Q distinct members per (task, class): draw with replacement, redraw the rows that
    # hold a repeat (rare unless a class barely has K + Q samples).
    size = counts[chosen][..., None]  # [T, N, 1]
    pos = rng.integers(0, size, size=(n_tasks, n_way, need))
    srt = np.sort(pos, axis=-1)
    for t, n in zip(*np.nonzero((srt[..., 1:] == srt[..., :-1]).any(-1))):
        pos[t, n] = rng.choice(size[t, n, 0], need, replace=False)
    picks = members[start[chosen][..., None] + pos]
    return Tasks(picks[:, :, :k_shot], picks[:, :, k_shot:], labels[chosen])
