"""glai.training.history: the queries of History, by hand."""

from __future__ import annotations

import numpy as np

from glai import GLAIClassifier
from glai.training import EpochRecord, History, HistoryEvents
from glai.training.checkpoint import restore_history


def test_history_queries_by_hand() -> None:
    history = History()
    for epoch, (score, seconds) in enumerate([(0.5, 1.0), (0.8, 2.0), (0.8, 3.0), (0.7, 4.0)]):
        history.records.append(EpochRecord(epoch + 1, "mlp", 1.0, 1.0, score, seconds))
    best = history.best()
    assert best is not None and best.epoch == 2  # the first of the tied best
    assert history.time_to_reach(0.75) == 2.0
    assert history.epochs_to_reach(0.5) == 1
    assert history.time_to_reach(0.9) is None
    assert history.epochs_to_reach(0.9) is None
    assert History().best() is None
    assert history.to_dicts()[0]["val_score"] == 0.5


def test_history_queries_by_phase() -> None:
    # A structural epoch scoring 0.9 does not count for the path model returned at the end.
    history = History()
    rows = [("structural", 0.9, 1.0), ("quantitative", 0.7, 2.0), ("quantitative", 0.8, 3.0)]
    for epoch, (phase, score, seconds) in enumerate(rows):
        history.records.append(EpochRecord(epoch + 1, phase, 1.0, 1.0, score, seconds))
    assert history.final_phase == "quantitative"
    best = history.best(phase="quantitative")
    assert best is not None and best.epoch == 3
    assert history.time_to_reach(0.75, phase="quantitative") == 3.0
    assert history.time_to_reach(0.75) == 1.0
    assert history.epochs_to_reach(0.75, phase="quantitative") == 3


def test_the_events_of_a_run_are_the_typed_ones_and_read_back_from_a_checkpoint() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    est = GLAIClassifier(8, quant_optimizer="ridge-ce", max_iter=4, random_state=0).fit(X, y)
    events = est.history_.events
    assert {"structure_steps", "freeze_seconds", "structure_frozen_epoch",
            "closed_form_penalty"} <= set(events)  # fmt: skip
    assert set(events) <= set(HistoryEvents.__annotations__)
    # a checkpoint saves them as a plain dict (its layout unchanged) and reads them back
    saved = {"records": est.history_.to_dicts(), "events": dict(events), "elapsed": 0.0}
    back = History()
    restore_history(back, saved)
    assert type(back.events) is dict and back.events == events
