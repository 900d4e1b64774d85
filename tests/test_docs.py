"""The documentation site builds with no warning (``make docs`` runs the same build)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


# Sphinx's and its extensions' own deprecation notices about each other, not the docs' warnings.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning")
def test_docs_build_without_warnings(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    for module in ("sphinx", "pydata_sphinx_theme", "myst_parser"):
        pytest.importorskip(module, reason="the docs extra (pip install 'glai-pytorch[docs]')")
    from sphinx.cmd.build import build_main

    # In this process (torch and glai are imported already): -W turns a warning into exit 1.
    argv = ["-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")]
    status = build_main(argv)
    assert status == 0, capfd.readouterr().err

    def text(page: str) -> str:  # the page's text, without the highlighting's tags
        return html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "html" / page).read_text()))

    # Sphinx does not warn of a reference to a Python name it cannot find (it prints the name
    # unlinked): every one of the guide's references to glai must lead to its API entry.
    unlinked = [
        f"{page.name}: {name}"
        for page in (tmp_path / "html").rglob("*.html")
        if page.parent.name not in ("api", "_modules")
        for linked, name in re.findall(
            r'(<a [^>]*>)?<code class="xref py[^"]*"><span class="pre">([^<]*)</span>',
            page.read_text(),
        )
        if not linked
    ]
    assert unlinked == []
    assert "pip install glai-pytorch " in text("index.html")
    # the API reference is there, read from the docstrings
    assert "Activation patterns A_l(x) = [z_l(x) > 0]" in text("api/method.html")


def test_every_module_has_a_place_in_the_api_reference() -> None:
    # A new module joins a page of docs/api/ (one ``.. automodule::`` line) when it lands.
    import pkgutil

    import glai

    modules = {"glai"} | {
        m.name for m in pkgutil.walk_packages(glai.__path__, "glai.")
        if m.name not in ("glai.__main__", "glai._version")
    }  # fmt: skip
    pages = "".join(p.read_text() for p in (DOCS / "api").glob("*.rst"))
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", pages, flags=re.MULTILINE))
    assert sorted(modules - documented) == []
    assert sorted(documented - modules) == []  # and no page names a module that is gone
