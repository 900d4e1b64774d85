"""Real data sets and frozen backbones for `glai demo` and `glai bench` (not the library)."""
