"""The few-shot bench: class splits, the WordNet hypernym parser, and end-to-end runs on tiny
data registered in place of WordNet (the report, its tests and verdicts, the figure, the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glai.fewshot import evaluate
from glai_bench import fewshot_data as fs_mod
from glai_bench.bench import run_bench
from glai_bench.cli import main
from glai_bench.datasets import WORDNET_DIR, load_wordnet_noun_hypernyms
from glai_bench.fewshot_data import FewShotData, Labeling, split_classes, wordnet_labelings
from glai_bench.settings import SETTINGS, FewShotSetting, get_setting

PNG = b"\x89PNG\r\n\x1a\n"


def blobs(n_rows: int = 1200, n_features: int = 8, seed: int = 0) -> FewShotData:
    """Two labelings of one matrix: "a" 12 classes of 100 rows; "b" 24 classes of 50."""
    rng = np.random.default_rng(seed)
    y_a = np.repeat(np.arange(12), n_rows // 12)
    y_b = np.repeat(np.arange(24), n_rows // 24)
    X = rng.normal(scale=2.0, size=(24, n_features))[y_b] + rng.normal(size=(n_rows, n_features))
    names = [f"c{i}" for i in range(24)]
    return FewShotData(
        X.astype(np.float32),
        {"a": Labeling(y_a, names[:12]), "b": Labeling(y_b, names)},
        {"source": "blobs"},
    )


TINY = FewShotSetting(
    name="tiny-fewshot",
    description="blobs",
    dataset="blobs",
    hidden=(16,),
    splits=("a", "b"),
    n_novel=(("a", 5), ("b", 8)),
    min_members=20,
    max_per_class=(("b", 60),),
    tasks=((3, 1), (5, 2), (6, 1)),
    n_query=4,
    n_tasks=40,
    out_features=4,
    episodes=40,
    n_way_train=3,
    k_shot_train=2,
    n_query_train=3,
    per_task_tasks=2,
    seeds=2,
)
PER_SEED = ["mlp-task", "glai-task", "mlp", "glai"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("fewshot")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(fs_mod.FEWSHOT_LOADERS, "blobs", lambda *args: blobs())
        yield run_bench(TINY, out=out, progress=False, command="glai bench tiny"), out


def test_split_classes_is_fixed_disjoint_and_capped() -> None:
    lab = Labeling(np.r_[np.repeat(np.arange(6), 30), np.full(10, -1), np.repeat(6, 5)],
                   [f"c{i}" for i in range(7)])  # fmt: skip
    base, novel, base_c, novel_c = split_classes(lab, 2, min_members=20, max_per_class=25, seed=3)
    again = split_classes(lab, 2, min_members=20, max_per_class=25, seed=3)
    np.testing.assert_array_equal(base, again[0])
    assert len(novel_c) == 2 and len(base_c) == 4 and not set(base_c) & set(novel_c)
    assert set(lab.y[novel]) == set(novel_c) and set(lab.y[base]) == set(base_c)  # no -1, no 6
    assert np.bincount(lab.y[base]).max() == 25 and len(np.intersect1d(base, novel)) == 0
    other = split_classes(lab, 2, min_members=20, max_per_class=None, seed=4)
    assert len(other[0]) + len(other[1]) == 180
    with pytest.raises(ValueError, match="n_novel=6 must leave base classes"):
        split_classes(lab, 6, min_members=20, max_per_class=None, seed=0)


def test_noun_hypernyms_hand_made(tmp_path: Path) -> None:
    lines = [
        "  1 license header  \n",
        "00001740 03 n 01 entity 0 001 ~ 00001930 n 0000 | that which is perceived  \n",
        "00001930 03 n 01 physical_entity 0 002 ~ 00002137 n 0000 @ 00001740 n 0000 "
        "| an entity that has physical existence  \n",
        "09044862 15 n 01 Paris 0 001 @i 08524735 n 0000 | the capital of France  \n",
        "02084071 05 n 02 dog 0 domestic_dog 0 002 @ 02083346 n 0000 @ 01317541 n 0000 "
        "| a member of the genus Canis  \n",
    ]
    (tmp_path / "data.noun").write_text("".join(lines))
    offsets, lexfiles, hypernyms, lemmas = load_wordnet_noun_hypernyms(tmp_path)
    np.testing.assert_array_equal(offsets, [1740, 1930, 9044862, 2084071])
    np.testing.assert_array_equal(lexfiles, [3, 3, 15, 5])
    # none; the '@' after a '~'; an instance hypernym is not followed; the first of two '@'
    np.testing.assert_array_equal(hypernyms, [-1, 1740, -1, 2083346])
    assert lemmas == ["entity", "physical_entity", "Paris", "dog"]
    (tmp_path / "data.noun").write_text("00001740 03 n 01 entity 0 002 ~ 00001930 n 0000 | x\n")
    with pytest.raises(ValueError, match=r"data\.noun:1: .*2 pointers declared, 1 found"):
        load_wordnet_noun_hypernyms(tmp_path)


def test_the_setting_is_data() -> None:
    s = SETTINGS["wordnet-minilm-fewshot"]
    assert isinstance(s, FewShotSetting) and s.seeds >= 5 and s.n_tasks >= 1000
    assert {(5, 1), (5, 5), (20, 5)} <= set(s.tasks)
    assert dict(s.n_novel) == {"lexname": 16, "hypernym": 200}
    quick = get_setting("wordnet-minilm-fewshot", quick=True)
    assert isinstance(quick, FewShotSetting) and quick.is_quick and quick.seeds < s.seeds


def test_a_setting_passes_candidate_scales_to_the_heads() -> None:
    s = SETTINGS["wordnet-minilm-fewshot"]
    assert isinstance(s, FewShotSetting) and "scale" not in s.fewshot_kwargs()  # the default
    kw = replace(s, scales=(3.0, 10.0)).fewshot_kwargs()
    assert kw["scale"] == [3.0, 10.0]


def test_report_runs_every_model_on_the_same_tasks(report: tuple[dict[str, Any], Path]) -> None:
    rep, out = report
    runs = rep["runs"]
    for split in ("a", "b"):
        mine = [r for r in runs if r["split"] == split]
        assert [(r["model"], r["seed"]) for r in mine] == [
            ("raw", None), ("lr", None), *((m, s) for s in (0, 1) for m in PER_SEED),
        ]  # fmt: skip
        for r in mine:  # 6-way needs 6 novel classes: "a" has 5
            six = {"6-way 1-shot"} if split == "b" else set()
            assert set(r["tasks"]) == {"3-way 1-shot", "5-way 2-shot"} | six
            per_task = r["model"] in ("lr", "mlp-task", "glai-task")
            assert all(c["n_tasks"] == (2 if per_task else 40) for c in r["tasks"].values())
        glai = [r for r in mine if r["model"] == "glai"]
        assert all(r["structure_frozen_epoch"] == len(r["m_t"]) >= 1 for r in glai)
    # the raw reference is exactly nearest class mean on the novel rows with the task seeds
    data = blobs()
    base, novel, _, _ = split_classes(data.labelings["b"], 8, min_members=20, max_per_class=60,
                                   seed=TINY.split_seed)  # fmt: skip
    assert rep["data"]["splits"]["a"]["base_samples"] == 7 * 100  # "a" is not capped
    direct = evaluate(data.X[novel], data.labelings["b"].y[novel], n_way=5, k_shot=2,
                      n_query=4, n_tasks=40, random_state=TINY.split_seed + 2000)  # fmt: skip
    raw_b = next(r for r in runs if r["split"] == "b" and r["model"] == "raw")
    assert raw_b["tasks"]["5-way 2-shot"]["accuracy"] == pytest.approx(direct["accuracy"])
    # the per-task classifiers meet the first 2 of those tasks: logistic regression by hand
    lr_b = next(r for r in runs if r["split"] == "b" and r["model"] == "lr")
    accs = []
    from sklearn.linear_model import LogisticRegression

    from glai.fewshot import sample_tasks

    Xn, yn = data.X[novel], data.labelings["b"].y[novel]
    Xn = (Xn - data.X[base].mean(0)) / data.X[base].std(0)  # standardised with base statistics
    tasks = sample_tasks(yn, n_way=5, k_shot=2, n_query=4, n_tasks=40,
                         random_state=TINY.split_seed + 2000)  # fmt: skip
    for t in range(2):
        sup, q = tasks.support[t].ravel(), tasks.query[t].ravel()
        accs.append(LogisticRegression(max_iter=1000).fit(Xn[sup], yn[sup]).score(Xn[q], yn[q]))
    assert lr_b["tasks"]["5-way 2-shot"]["accuracy"] == pytest.approx(np.mean(accs))
    np.testing.assert_allclose(raw_b["tasks"]["5-way 2-shot"]["task_accuracies"],
                               direct["task_accuracies"], atol=1e-8)  # fmt: skip
    assert rep["data"]["splits"]["b"]["novel_classes"] == 8
    assert rep["data"]["splits"]["b"]["base_classes"] == 16
    on_disk = json.loads((out / "tiny-fewshot.json").read_text())
    assert on_disk["verdicts"] == rep["verdicts"] and on_disk["config"]["command"]


def test_report_aggregates_tests_and_markdown(report: tuple[dict[str, Any], Path]) -> None:
    rep, out = report
    t = rep["aggregates"]["a"]["tasks"]["3-way 1-shot"]
    mlp = [r["tasks"]["3-way 1-shot"]["accuracy"] for r in rep["runs"]
           if r["split"] == "a" and r["model"] == "mlp"]  # fmt: skip
    assert t["mlp"]["accuracy"]["mean"] == pytest.approx(np.mean(mlp))
    raw = t["raw"]["accuracy"]["mean"]
    assert t["mlp"]["vs_raw"]["mean_diff"] == pytest.approx(np.mean(mlp) - raw)
    glai = [r["tasks"]["3-way 1-shot"]["accuracy"] for r in rep["runs"]
            if r["split"] == "a" and r["model"] == "glai"]  # fmt: skip
    assert t["glai"]["vs_mlp"]["n"] == 2
    assert t["glai"]["vs_mlp"]["mean_diff"] == pytest.approx(np.mean(glai) - np.mean(mlp))
    # per-task rows are tested against the per-task MLP head, on their own tasks
    task_mlp = [r["tasks"]["3-way 1-shot"]["accuracy"] for r in rep["runs"]
                if r["split"] == "a" and r["model"] == "mlp-task"]  # fmt: skip
    lr = next(r for r in rep["runs"] if r["split"] == "a" and r["model"] == "lr")
    lr_acc = lr["tasks"]["3-way 1-shot"]["accuracy"]
    assert t["lr"]["vs_mlp"]["mean_diff"] == pytest.approx(lr_acc - np.mean(task_mlp))
    # logistic regression and raw have no seed: their difference is a constant, untested
    assert t["lr"]["vs_raw"]["t_pvalue"] is None and t["lr"]["vs_raw"]["n"] == 2
    assert len(rep["verdicts"]) == 5
    for v in rep["verdicts"]:
        assert v.count(" raw (") == 5 and v.count("pts vs raw, p=") == 5  # all but raw
        assert v.count("vs the MLP head") == 3  # lr, glai-task; glai (episodic)
    md = (out / "tiny-fewshot.md").read_text()
    assert "| nearest class mean | raw features |" in md and "| per-task | GLAI head |" in md
    assert "| episodic | GLAI head" in md and "| per-task | logistic regression |" in md
    assert "Command: `glai bench tiny`" in md and "machine:" in md
    assert "6-way 1-shot: n/a (only 5 novel classes)" in md
    assert (out / "tiny-fewshot-accuracy.png").read_bytes()[:8] == PNG


def test_quick_variant_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real quick variant on tiny stand-ins for its two labelings (>= 200 novel hypernyms).
    rng = np.random.default_rng(0)
    y_hyp = np.repeat(np.arange(230), 20)
    X = rng.normal(size=(230, 6))[y_hyp] + 0.5 * rng.normal(size=(len(y_hyp), 6))
    y_lex = np.arange(len(y_hyp)) % 41
    data = FewShotData(
        X.astype(np.float32),
        {"lexname": Labeling(y_lex, [f"l{i}" for i in range(41)]),
         "hypernym": Labeling(y_hyp, [f"h{i}" for i in range(230)])},
    )  # fmt: skip
    monkeypatch.setitem(fs_mod.FEWSHOT_LOADERS, "wordnet", lambda *args: data)
    # the quick variant as it is, with fewer tasks and episodes: this test checks the plumbing
    real = SETTINGS["wordnet-minilm-fewshot"]
    small = replace(real, quick={**real.quick, "n_tasks": 30, "episodes": 20,
                                 "per_task_tasks": 1})
    monkeypatch.setitem(SETTINGS, "wordnet-minilm-fewshot", small)
    argv = ["bench", "wordnet-minilm-fewshot", "--quick", "--seeds", "1", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "### wordnet-minilm-fewshot-quick" in printed and "20-way 5-shot" in printed
    rep = json.loads((tmp_path / "wordnet-minilm-fewshot-quick.json").read_text())
    assert rep["data"]["splits"]["hypernym"]["novel_classes"] == 200
    assert rep["config"]["setting"]["n_tasks"] == 30


@pytest.mark.skipif(
    not (WORDNET_DIR / "data.noun").is_file(), reason="Debian package wordnet-base not installed"
)
def test_wordnet_labelings_line_up_with_the_glosses() -> None:
    texts, labelings = wordnet_labelings(min_members=20)
    lex, hyp = labelings["lexname"], labelings["hypernym"]
    assert len(texts) == len(lex.y) == len(hyp.y) > 100_000
    grouped = hyp.y >= 0
    # only nouns are grouped by hypernym, and every group has >= 20 members
    assert all(lex.names[c].startswith("noun.") for c in np.unique(lex.y[grouped]))
    assert np.bincount(hyp.y[grouped]).min() >= 20 and len(hyp.names) > 300
    # a group's glosses are those of the named synset's hyponyms (offsets of WordNet 3.0)
    shrub = np.flatnonzero(hyp.y == hyp.names.index("shrub.n.13112664"))
    assert len(shrub) > 100 and np.mean(["shrub" in texts[i] for i in shrub]) > 0.5


def test_the_fashion_setting_pools_the_classification_subsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fashion-effnet-fewshot reads the subsets (and so the feature cache) of fashion-effnet
    # --quick, pools them, and holds 5 of the 10 classes out as novel; quick on stand-ins.
    from glai_bench import data as data_mod
    from glai_bench.data import split_indices

    s = SETTINGS["fashion-effnet-fewshot"]
    quick_cls = get_setting("fashion-effnet", quick=True)
    assert isinstance(s, FewShotSetting) and s.seeds >= 5 and s.n_tasks >= 1000
    assert not s.standardize and set(s.tasks) == {(5, 1), (5, 5)}
    for name in ("dataset", "backbone", "resolution", "val_fraction", "n_train", "n_val",
                 "n_test", "split_seed"):  # fmt: skip
        assert getattr(s, name) == getattr(quick_cls, name), name
    rng = np.random.default_rng(0)

    def fake_splits(setting: Any, **kwargs: Any) -> Any:
        assert not setting.standardize
        y = {k: np.repeat(np.arange(10), n) for k, n in (("tr", 30), ("va", 6), ("te", 10))}
        X = {k: rng.normal(size=(10, 12))[v] + rng.normal(size=(len(v), 12)) for k, v in y.items()}
        return data_mod.Splits(X["tr"], y["tr"], X["va"], y["va"], X["te"], y["te"],
                               {"dataset": "fake"})  # fmt: skip

    monkeypatch.setattr(data_mod, "load_splits", fake_splits)
    loaded = fs_mod.FEWSHOT_LOADERS["fashion-mnist"](s, None, "cpu", False)
    assert loaded.X.shape == (460, 12) and np.bincount(loaded.labelings["clothing"].y).min() == 46
    assert loaded.labelings["clothing"].names[0] == "T-shirt/top"
    assert split_indices  # the classification settings' splitter is the one used
    small = replace(s, quick={**s.quick, "n_tasks": 20, "episodes": 20, "per_task_tasks": 1,
                              "glai_budget": None})  # fmt: skip
    monkeypatch.setitem(SETTINGS, "fashion-effnet-fewshot", small)
    argv = ["bench", "fashion-effnet-fewshot", "--quick", "--seeds", "1", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    rep = json.loads((tmp_path / "fashion-effnet-fewshot-quick.json").read_text())
    assert rep["data"]["splits"]["clothing"]["novel_classes"] == 5
    assert set(rep["aggregates"]["clothing"]["tasks"]) == {"5-way 1-shot", "5-way 5-shot"}


SLICED = replace(TINY, name="tiny-sliced", splits=("b",), per_task_tasks=3,
                 per_task_slices=True, seeds=3)  # fmt: skip


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("sliced")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(fs_mod.FEWSHOT_LOADERS, "blobs", lambda *args: blobs())
        yield run_bench(SLICED, out=out, progress=False, command="glai bench sliced"), out


def test_per_task_slices_cover_distinct_tasks_once(sliced: tuple[dict[str, Any], Path]) -> None:
    from sklearn.linear_model import LogisticRegression

    from glai import MLPHeadClassifier
    from glai.fewshot import sample_tasks

    rep, out = sliced
    runs, m = rep["runs"], 3
    for task in ("3-way 1-shot", "5-way 2-shot", "6-way 1-shot"):
        raw = next(r for r in runs if r["model"] == "raw")["tasks"][task]
        assert raw["n_tasks"] == len(raw["task_accuracies"]) == 40
        lr = next(r for r in runs if r["model"] == "lr")["tasks"][task]
        assert (lr["task_offset"], lr["n_tasks"], len(lr["task_accuracies"])) == (0, 3 * m, 3 * m)
        for model in ("mlp-task", "glai-task"):
            cells = [r["tasks"][task] for r in runs if r["model"] == model]
            assert [r["seed"] for r in runs if r["model"] == model] == [0, 1, 2]
            covered = [i for c in cells for i in range(c["task_offset"],
                                                       c["task_offset"] + c["n_tasks"])]
            # seed s: tasks [3s, 3s + 3); together the first 9 tasks, each exactly once
            assert [c["task_offset"] for c in cells] == [0, m, 2 * m]
            assert sorted(covered) == list(range(3 * m)) and len(set(covered)) == len(covered)
            assert all(len(c["task_accuracies"]) == c["n_tasks"] == m for c in cells)
    # seed 1's per-task MLP head and logistic regression on task 3 (the first of seed 1's
    # slice), by hand on the same draw as nearest class mean
    data = blobs()
    base, novel, _, _ = split_classes(data.labelings["b"], 8, min_members=20, max_per_class=60,
                                      seed=SLICED.split_seed)  # fmt: skip
    Xn, yn = data.X[novel], data.labelings["b"].y[novel]
    Xn = ((Xn - data.X[base].mean(0)) / data.X[base].std(0)).astype(np.float32)
    tasks = sample_tasks(yn, n_way=5, k_shot=2, n_query=4, n_tasks=40,
                         random_state=SLICED.split_seed + 2000)  # fmt: skip
    sup, q = tasks.support[m].ravel(), tasks.query[m].ravel()
    mlp1 = next(r for r in runs if r["model"] == "mlp-task" and r["seed"] == 1)
    by_hand = MLPHeadClassifier(random_state=1).fit(Xn[sup], yn[sup]).score(Xn[q], yn[q])
    assert mlp1["tasks"]["5-way 2-shot"]["task_accuracies"][0] == pytest.approx(by_hand, abs=1e-6)
    lr = next(r for r in runs if r["model"] == "lr")["tasks"]["5-way 2-shot"]
    lr_hand = LogisticRegression(max_iter=1000).fit(Xn[sup], yn[sup]).score(Xn[q], yn[q])
    assert lr["task_accuracies"][m] == pytest.approx(lr_hand, abs=1e-6)
    md = (out / "tiny-sliced.md").read_text()
    assert "seed s the tasks [3s, 3(s+1)), 9 distinct tasks in all" in md


def test_sliced_tests_pair_each_seed_and_each_task_with_raw_on_the_same_tasks(
    sliced: tuple[dict[str, Any], Path],
) -> None:
    rep, _ = sliced
    runs, m, task = rep["runs"], 3, "5-way 2-shot"
    raw = np.asarray(next(r for r in runs if r["model"] == "raw")["tasks"][task]
                     ["task_accuracies"])  # fmt: skip
    glai = [r["tasks"][task] for r in runs if r["model"] == "glai-task"]
    mlp = [r["tasks"][task] for r in runs if r["model"] == "mlp-task"]
    t = rep["aggregates"]["b"]["tasks"][task]
    # over seeds: seed s against raw on seed s's slice
    per_seed = [c["accuracy"] - raw[s * m:(s + 1) * m].mean() for s, c in enumerate(glai)]
    assert t["glai-task"]["vs_raw"]["n"] == 3
    assert t["glai-task"]["vs_raw"]["mean_diff"] == pytest.approx(np.mean(per_seed))
    # over tasks: the 9 tasks, each fitted once
    pooled = np.concatenate([c["task_accuracies"] for c in glai])
    pooled_mlp = np.concatenate([c["task_accuracies"] for c in mlp])
    assert t["glai-task"]["tasks_scored"] == t["glai-task"]["vs_raw_tasks"]["n"] == 3 * m
    assert t["glai-task"]["vs_raw_tasks"]["mean_diff"] == pytest.approx(
        (pooled - raw[:3 * m]).mean())
    assert t["glai-task"]["vs_mlp_tasks"]["mean_diff"] == pytest.approx(
        (pooled - pooled_mlp).mean())
    assert t["glai-task"]["ci95_tasks"] == pytest.approx(1.96 * pooled.std() / np.sqrt(3 * m))
    # logistic regression (no seed) is paired with each seed's slice: a test over slices exists
    lr = np.asarray(next(r for r in runs if r["model"] == "lr")["tasks"][task]["task_accuracies"])
    lr_slices = [lr[s * m:(s + 1) * m].mean() - mlp[s]["accuracy"] for s in range(3)]
    assert t["lr"]["vs_mlp"]["mean_diff"] == pytest.approx(np.mean(lr_slices))
    assert t["lr"]["vs_raw_tasks"]["n"] == 3 * m


def test_per_task_slices_that_do_not_fit_the_tasks_are_refused() -> None:
    from glai_bench.protocols.fewshot import per_task_range

    assert per_task_range(SLICED, 2, 3) == (6, 9) and per_task_range(SLICED, None, 3) == (0, 9)
    assert per_task_range(replace(SLICED, per_task_slices=False), 2, 3) == (0, 3)
    with pytest.raises(ValueError, match="seeds \\* per_task_tasks <= n_tasks"):
        per_task_range(SLICED, 0, 14)  # 14 x 3 > 40
    with pytest.raises(ValueError, match="per_task_tasks=None"):
        per_task_range(replace(SLICED, per_task_tasks=None), 0, 1)


def test_the_full_settings_fit_each_of_their_1000_tasks_once_per_head() -> None:
    from glai_bench.protocols.fewshot import per_task_range

    for name in ("wordnet-minilm-fewshot", "fashion-effnet-fewshot"):
        s = SETTINGS[name]
        assert isinstance(s, FewShotSetting) and s.per_task_slices and s.n_tasks >= 1000
        ranges = [per_task_range(s, seed, s.seeds) for seed in range(s.seeds)]
        assert s.seeds >= 5 and sum(hi - lo for lo, hi in ranges) == s.n_tasks
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # disjoint, contiguous
        quick = get_setting(name, quick=True)
        assert isinstance(quick, FewShotSetting) and not quick.per_task_slices
