"""glai.training.history: the queries of History, by hand."""

from __future__ import annotations

from glai.training import EpochRecord, History


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
