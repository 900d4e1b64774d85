"""glai_bench: the benchmark harness around the glai library (not part of it).

Real data sets, frozen backbones, the feature cache, bench settings (as data), the runner,
statistics, reports, figures, and the ``glai demo`` / ``glai bench`` command line. It uses the
library; the library never imports it. Installed with the ``bench`` extra:
``pip install 'glai-pytorch[bench]'``.
"""
