"""GLAI."""
