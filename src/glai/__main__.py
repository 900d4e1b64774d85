"""``python -m glai train ...`` (and ``torchrun --nproc_per_node K -m glai train ...``)."""

from glai.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
