"""The package version, in one place: pyproject.toml reads it, ``glai.__version__`` re-exports it
and :mod:`glai.io` records it in saved files (without importing the package ``__init__``)."""

__version__ = "0.2.0"
