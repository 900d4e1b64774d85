"""scikit-learn estimators for feature matrices: GLAI heads and their MLP baselines.

All four share one training loop (:mod:`glai.training`) and the hyper-parameters that mean
the same thing (:mod:`glai.params`), so ``GLAIClassifier`` and ``MLPHeadClassifier`` differ
only in the model. They follow the scikit-learn contract: ``__init__`` stores arguments,
``fit`` validates, seeds, builds and sets the fitted attributes (names ending in ``_``).

* :mod:`~glai.estimators.base`: what every head shares (validation, split, fitted attributes);
* :mod:`~glai.estimators.targets`: classifier and regressor targets, losses and predictions;
* :mod:`~glai.estimators.mlp_head`: :class:`MLPHeadClassifier`, :class:`MLPHeadRegressor`;
* :mod:`~glai.estimators.glai_fit`: a GLAI head's two phases and its solver;
* :mod:`~glai.estimators.retraining`: warm start and ``partial_fit`` on the frozen structure;
* :mod:`~glai.estimators.glai_head`: :class:`GLAIClassifier`, :class:`GLAIRegressor`.
"""

from glai.estimators.base import HEAD_DEFAULTS, HEAD_PARAMS
from glai.estimators.glai_fit import GLAI_DEFAULTS, GLAI_PARAMS
from glai.estimators.glai_head import GLAIClassifier, GLAIRegressor
from glai.estimators.mlp_head import MLPHeadClassifier, MLPHeadRegressor
from glai.params import (
    AUTO_BATCH_SIZE,
    AUTO_CHECK_STEPS,
    AUTO_HOLDOUT_MIN_SAMPLES,
    AUTO_VALIDATION_FRACTION,
)

__all__ = [
    "GLAIClassifier",
    "GLAIRegressor",
    "MLPHeadClassifier",
    "MLPHeadRegressor",
    "HEAD_DEFAULTS",
    "HEAD_PARAMS",
    "GLAI_DEFAULTS",
    "GLAI_PARAMS",
    "AUTO_BATCH_SIZE",
    "AUTO_CHECK_STEPS",
    "AUTO_HOLDOUT_MIN_SAMPLES",
    "AUTO_VALIDATION_FRACTION",
]
