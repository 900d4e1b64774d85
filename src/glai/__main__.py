"""``python -m glai ...``, the same command as ``glai`` (and ``torchrun ... -m glai train ...``)."""

from glai.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
