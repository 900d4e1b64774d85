"""glai: GreenLightningAI (Mestre et al., 2025, arXiv:2510.00883) for PyTorch and scikit-learn.

A drop-in replacement for ReLU MLP heads that learns *which* ReLUs fire (structure) first,
freezes it, and then trains only the numbers on the active paths, a model linear in its
parameters.
"""

from glai._version import __version__
from glai.block import GLAI, StructureNotFrozenError, resolve_budget, structural_widths
from glai.io import load_glai, save_glai
from glai.mlp import MLP, BatchNormMLP, mlp_num_params
from glai.path_model import PathModel, freeze
from glai.paths import path_model_num_params
from glai.structure import StopRule, StructureMonitor, activation_patterns, path_distance

__all__ = [
    "GLAI",
    "MLP",
    "BatchNormMLP",
    "PathModel",
    "StopRule",
    "StructureMonitor",
    "StructureNotFrozenError",
    "activation_patterns",
    "freeze",
    "load_glai",
    "mlp_num_params",
    "path_distance",
    "path_model_num_params",
    "resolve_budget",
    "save_glai",
    "structural_widths",
    "__version__",
]

from glai.estimators import (  # noqa: E402  (estimators build on everything above)
    GLAIClassifier,
    GLAIRegressor,
    MLPHeadClassifier,
    MLPHeadRegressor,
)

__all__ += ["GLAIClassifier", "GLAIRegressor", "MLPHeadClassifier", "MLPHeadRegressor"]

from glai.federated import merge, share_structure  # noqa: E402  (combines fitted estimators)

__all__ += ["merge", "share_structure"]

from glai.ssl import (  # noqa: E402  (a use of the block and the loop, like the estimators)
    GLAIProjectionHead,
    ProjectionHead,
    fit_projection_head,
    nt_xent_loss,
)

__all__ += ["GLAIProjectionHead", "ProjectionHead", "fit_projection_head", "nt_xent_loss"]

# A use of the training loop: its own module above glai.training. Its first home's name,
# glai.training.run, stays importable as an alias of it (registered here, at the top of the
# package, so that glai.training imports nothing above itself).
import sys as _sys  # noqa: E402

from glai import run as _run  # noqa: E402
from glai import training as _training  # noqa: E402

_sys.modules["glai.training.run"] = _run
_training.run = _run  # type: ignore[attr-defined]
