"""The documentation site builds with no warning (``make docs`` runs the same build)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="the docs extra (pip install 'glai-pytorch[docs]')")
    pytest.importorskip("pydata_sphinx_theme", reason="the docs extra")
    pytest.importorskip("myst_parser", reason="the docs extra")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
               str(DOCS), str(tmp_path / "html")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    def text(page: str) -> str:  # the page's text, without the highlighting's tags
        return re.sub(r"<[^>]+>", "", (tmp_path / "html" / page).read_text())

    assert "pip install glai-pytorch " in text("index.html")
    # the API reference is there, read from the docstrings
    assert "Activation patterns A_l(x) = [z_l(x) > 0]" in text("api/method.html")
