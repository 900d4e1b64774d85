"""Tests for the ``glai`` command: argument parsing, errors, and both commands end to end on a
tiny data set registered in place of the real ones (no backbone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.datasets import load_digits

from glai_bench import cli
from glai_bench import data as data_mod
from glai_bench import demo as demo_mod
from glai_bench import settings as settings_mod
from glai_bench.data import RawData
from glai_bench.settings import Setting

TINY = Setting(
    name="tiny",
    description="sklearn digits, raw 64-d",
    dataset="digits",
    hidden=(16,),
    rhos=(),
    long_structure_epochs=3,
    max_epochs=5,
    seeds=1,
    quick={"seeds": 1, "n_train": 600, "widths": (8,), "budgets": (2,)},
)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Setting:
    def digits(setting: Setting) -> RawData:
        X, y = load_digits(return_X_y=True)
        return RawData(X[:1400], y[:1400], X[1400:], y[1400:])

    monkeypatch.setitem(data_mod.LOADERS, "digits", digits)
    monkeypatch.setitem(settings_mod.SETTINGS, "tiny", TINY)
    return TINY


def test_bench_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--seeds", "--quick", "--out", "--threads", "--device", "fashion-effnet"):
        assert flag in text


def test_unknown_setting_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown setting 'nope'" in err and "wordnet-minilm" in err and "all" in err


def test_parse_bench_arguments() -> None:
    args = cli.build_parser().parse_args(
        ["bench", "wordnet-minilm", "--seeds", "3", "--quick", "--threads", "2", "--device", "auto"]
    )
    assert (args.setting, args.seeds, args.quick, args.threads, args.device) == (
        "wordnet-minilm", 3, True, 2, "auto",
    )  # fmt: skip
    args = cli.build_parser().parse_args(["bench", "all"])
    assert args.setting == "all" and args.seeds is None and args.out == "results"
    assert args.threads == 1 and args.device == "cpu"
    assert cli.build_parser().parse_args(["demo"]).out == "demo_out"


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "fashion-raw", "--seeds", "0"], ["bench", "fashion-raw", "--device", "tpu"],
        ["bench", "fashion-raw", "--budgets", "0"], ["bench", "fashion-raw", "--widths", "-3"], [],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glai_bench.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=180,  # a fresh interpreter imports torch: slow on a shared 2-core machine
    )
    assert done.returncode == 0 and "bench" in done.stdout and "demo" in done.stdout


def test_bench_command_end_to_end(
    tiny: Setting, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "tiny", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "### tiny-quick" in out and "| glai-auto |" in out and "wall time" in out
    report = json.loads((tmp_path / "tiny-quick.json").read_text())
    assert (
        report["config"]["command"]
        == "glai bench tiny --quick --out " + str(tmp_path) + " --no-progress"
    )
    assert report["data"]["sizes"]["train"] == 600
    for name in (
        "paths.png",
        "tiny-quick-path-distance.png",
        "tiny-quick-rho.png",
        "tiny-quick-tradeoff.png",
        "tiny-quick.md",
    ):
        assert (tmp_path / name).is_file()
    # the accuracy-against-time picture: the quick variant's MLP widths and GLAI budgets
    assert "#### tiny-quick: accuracy against time" in out
    assert "| mlp-w8 | MLP head |" in out and "| glai-x2 | GLAI (budget) |" in out
    assert "![accuracy against time](tiny-quick-tradeoff.png)" in out
    assert {p["model"] for p in report["tradeoff"]} == {
        "mlp", "glai-auto", "narrow-mlp", "mlp-w8", "glai-x2", "linear-probe", "sklearn-mlp",
    }  # fmt: skip


def test_bench_scan_of_budgets_runs_only_those_heads(
    tiny: Setting, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "tiny", "--quick", "--budgets", "1.5", "3", "--only", "glai-x3,glai-x1.5",
            "--seeds", "1", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    stem = "tiny+glai-x1.5+glai-x3-quick"  # never overwrites the full run's files
    report = json.loads((tmp_path / f"{stem}.json").read_text())
    assert [r["model"] for r in report["runs"]] == ["mlp", "glai-x1.5", "glai-x3"]
    assert report["config"]["only"] == ["glai-x1.5", "glai-x3"]
    assert report["config"]["setting"]["budgets"] == [1.5, 3.0]
    params = {r["model"]: r["params"] for r in report["runs"]}
    assert params["mlp"] < params["glai-x1.5"] <= 1.5 * params["mlp"] < params["glai-x3"]
    assert params["glai-x3"] <= 3 * params["mlp"]
    assert not (tmp_path / f"{stem}-rho.png").exists()  # no rho heads ran
    assert (tmp_path / f"{stem}-tradeoff.png").is_file()
    assert "| glai-x3 | GLAI (budget) |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "glai-x8"], "no head glai-x8 in setting 'tiny'"),
        (["--budgets", "8", "--only", "glai-x8,nope"], "no head nope"),
    ],
)
def test_bench_scan_refuses_unknown_heads(
    tiny: Setting, tmp_path: Path, argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit, match=message):
        cli.main(["bench", "tiny", "--quick", "--out", str(tmp_path), *argv])
    assert not list(tmp_path.iterdir())


def test_bench_scan_is_for_classification_settings() -> None:
    with pytest.raises(SystemExit, match="classification settings"):
        cli.main(["bench", "wordnet-minilm-fewshot", "--budgets", "2"])


def test_demo_command_end_to_end(
    tiny: Setting,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(demo_mod, "DEMO_SETTING", tiny)
    assert cli.main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for text in ("MLP head", "GLAI head", "best val acc", "speedup", "machine:", "1 torch thread"):
        assert text in out
    report = json.loads((tmp_path / "demo.json").read_text())
    assert [r["model"] for r in report["runs"]] == ["mlp", "glai-auto"]
    glai = report["runs"][1]
    # the table says when the structure froze and which solver "auto" picked for the paths
    assert glai["quant_optimizer"] in ("adam", "ridge-ce")
    assert f"{glai['structure_steps']} steps" in out and glai["quant_optimizer"] in out
    assert (tmp_path / "path_distance.png").read_bytes()[:4] == b"\x89PNG"


def test_without_the_bench_extra_the_commands_name_it(tmp_path: Path) -> None:
    # One fresh interpreter (they are slow to start) in which matplotlib, one of the bench
    # extra's packages, is absent; both commands run in it.
    out = str(tmp_path / "out")
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "from glai_bench.cli import main\n"
        f"for argv in (['demo', '--out', {out!r}], ['bench', 'mnist1d-raw', '--quick', '--out', "
        f"{out!r}]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        print(exc.code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"glai {command} needs the bench extra (matplotlib is not installed): "
        "pip install 'glai-pytorch[bench]'"
        for command in ("demo", "bench")
    ]
    assert not (tmp_path / "out").exists()


def test_a_missing_glai_module_is_not_blamed_on_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "glai_bench.demo", None)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["demo", "--out", "unused"])


def test_bench_commands_join_the_library_parser() -> None:
    from glai.cli import build_parser

    assert build_parser(extensions=[cli.register]).parse_args(["demo"]).run is cli._demo
    with pytest.raises(SystemExit) as exc:
        build_parser(extensions=[]).parse_args(["demo"])  # the library alone: train only
    assert exc.value.code == 2
