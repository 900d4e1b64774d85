"""The GLAI block in your own PyTorch training loop, where an MLP head was.

Phase 1 ("structural") trains a narrow ReLU MLP as usual while a StructureMonitor tracks the
path distance m_t on a fixed probe of training inputs; once m_t has settled the structure is
frozen, and phase 2 ("quantitative") trains only the path weights, on gates computed once.

    python examples/block_in_torch_loop.py
"""

import torch
import torch.nn.functional as F

import glai

torch.manual_seed(0)
n, d, k = 2000, 32, 5
X = torch.randn(n, d)
y = (X[:, :k] + 0.3 * torch.randn(n, k)).argmax(dim=1)  # a 5-class problem on 32 features
X_train, y_train, X_val, y_val = X[:1600], y[:1600], X[1600:], y[1600:]

head = glai.GLAI(d, 64, k)  # replaces the MLP 32 -> 64 -> 5, at its parameter count
monitor = glai.StructureMonitor(X_train[:512])  # probe: a fixed subset of the training inputs
monitor.update(head.structure)  # the reference patterns, before training


def epoch(optimizer: torch.optim.Optimizer, gates: torch.Tensor | None = None) -> None:
    for rows in torch.randperm(len(X_train)).split(64):
        logits = head(X_train[rows]) if gates is None else head(X_train[rows], gates[rows])
        loss = F.cross_entropy(logits, y_train[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
for _ in range(50):  # phase "structural": at most 50 epochs
    epoch(optimizer)
    if monitor.update(head.structure):  # True once the stop rule deems m_t settled
        break
print(f"structure stable after {len(monitor.history)} epochs; m_t = {monitor.history[-1]:.4f}")

head.freeze_structure(X_train[:512])  # phase "quantitative": only the paths train from here
optimizer = torch.optim.Adam(head.parameters(), lr=3e-4)  # new parameters: a new optimiser
gates = head.gates(X_train)  # frozen inputs: the gates never change, compute them once
for _ in range(20):
    epoch(optimizer, gates)

with torch.no_grad():
    accuracy = (head(X_val).argmax(dim=1) == y_val).float().mean().item()
print(f"{head.phase} phase, {head.num_paths} paths; validation accuracy {accuracy:.3f}")
