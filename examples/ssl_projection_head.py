"""A GLAI projection head for SimCLR on frozen features, against the MLP head it replaces.

A frozen backbone's features of V augmented views of each image are extracted once:
``views [N, V, n_0]``. Each epoch draws two different views per image and pulls them together
with the NT-Xent loss. Here the views are synthetic: each "image" is a random vector and its
views are noisy copies of it.

    python examples/ssl_projection_head.py
"""

import torch

from glai import ProjectionHead, fit_projection_head
from glai.training import TrainConfig

torch.manual_seed(0)
n, n_val, V, d = 512, 128, 4, 32
images = torch.randn(n + n_val, 1, d)
views_all = images + 0.5 * torch.randn(n + n_val, V, d)  # V noisy views of every image
views, views_val = views_all[:n], views_all[n:]

for kind in ("mlp", "glai"):
    head = ProjectionHead(d, 64, 16, kind=kind)  # kind="mlp": Linear-BatchNorm-ReLU-Linear
    history = fit_projection_head(
        head, views, views_val, temperature=0.5, config=TrainConfig(max_epochs=30),
        random_state=0,
    )  # fmt: skip
    best = history.best(phase=history.final_phase)
    print(f"{kind}: best held-out NT-Xent {-best.val_score:.3f} ({history.final_phase} phase)")

z = head.eval()(views_val[:, 0])  # embeddings [n_val, 16] of the held-out views
print(f"embeddings {tuple(z.shape)}; the GLAI head is in phase {head.phase!r}")
