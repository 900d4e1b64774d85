"""Sphinx configuration of glai's documentation (``make docs`` builds it with ``-W``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # a fresh clone documents its own source, installed or not

from glai._version import __version__  # noqa: E402

project = "glai"
author = "the glai developers"
copyright = "2026, the glai developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings are Google style ("Args:"); napoleon reads numpydoc too
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# docs/benchmarks/ is the bench's output folder (tables, JSON, figures): pages embed its figures,
# but its Markdown files are not pages of their own.
exclude_patterns = ["_build", "benchmarks/**"]

# ignore-module-all: a module documents what it defines, not what it re-exports (one target each).
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

intersphinx_mapping: dict[str, tuple[str, None]] = {}  # offline builds: no inventories fetched

html_theme = "pydata_sphinx_theme"
html_title = f"glai {__version__}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}


def _skip_foreign(app, what, name, obj, skip, options):  # type: ignore[no-untyped-def]
    """Document glai's own members only: not what scikit-learn or torch define on a base class
    (``set_fit_request``, ``nn.Module.forward`` hooks, ...)."""
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and not module.startswith(("glai", "glai_bench")):
        return True
    return None


def _find(path: str) -> object | None:
    """The object at a dotted ``path`` (module, then attributes), or None."""
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_reexport(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """A reference to a re-exported name (``glai.GLAI``, ``glai.fewshot.evaluate``) resolves
    to where the object is documented, the module that defines it: pages then survive a
    module moving inside the package, as long as its public import path stays."""
    if node.get("refdomain") != "py" or not node["reftarget"].startswith("glai"):
        return None
    obj = _find(node["reftarget"])
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)):
        return None
    canonical = f"{module}.{qualname}"
    if canonical == node["reftarget"]:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode
    )


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("missing-reference", _resolve_reexport)
