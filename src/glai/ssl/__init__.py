"""Self-supervised projection heads (SimCLR) with GLAI, and their MLP baseline.

SimCLR (Chen et al., 2020, arXiv:2002.05709) embeds two augmented views of each image,
``z = g(h)`` with ``h`` the (here frozen) backbone features and ``g`` a projection head, and
pulls the two views of an image together with the NT-Xent loss. GLAI (Mestre et al., 2025,
arXiv:2510.00883, section 7 of GLAI-METHOD.md) replaces the head ``g``: the structural phase
trains a narrow head and tracks its path distance ``m_t`` on a fixed probe of views; then the
structure is frozen and only the paths are trained, on gates computed once (the inputs are
frozen features, so a view's gates never change).

* :func:`nt_xent_loss` -- the loss;
* :func:`ProjectionHead` -- the head: ``kind="mlp"`` (Linear-BatchNorm-ReLU-Linear as lightly's
  ``SimCLRProjectionHead``, or Linear-ReLU-Linear as solo-learn's with ``batch_norm=False``)
  or ``kind="glai"`` (:class:`GLAIProjectionHead`, a :class:`~glai.block.GLAI` block whose
  structural network may carry BatchNorm);
* :func:`fit_projection_head` -- trains either head on pairs of views with the shared loop.
"""

from glai.ssl.fit import SSLHistory, fit_projection_head
from glai.ssl.head import GLAIProjectionHead, ProjectionHead
from glai.ssl.loss import nt_xent_loss

__all__ = [
    "GLAIProjectionHead",
    "ProjectionHead",
    "SSLHistory",
    "fit_projection_head",
    "nt_xent_loss",
]
