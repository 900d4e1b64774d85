"""Early stopping on a validation score (scikit-learn's ``tol`` and ``patience``)."""

from __future__ import annotations

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Tracks the best validation score; ``exhausted`` after ``patience`` epochs without a gain
    of more than ``tol`` over the best score (never when ``patience`` is None)."""

    def __init__(self, patience: int | None, tol: float = 0.0) -> None:
        self.patience = patience
        self.tol = tol
        self.best_score = -float("inf")
        self.since_best = 0

    def improved(self, score: float) -> bool:
        """Whether ``score`` is the best so far; counts the epoch toward ``patience`` unless
        it beats the best by more than ``tol``."""
        self.since_best = 0 if score > self.best_score + self.tol else self.since_best + 1
        if score > self.best_score:
            self.best_score = score
            return True
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.since_best >= self.patience
