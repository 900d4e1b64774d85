"""Few-shot classification on frozen features: an embedding head trained on base classes,
scored by nearest class mean on novel classes it never saw.

Digits 0-5 are the base classes, 6-9 the novel ones. ``evaluate`` draws the same few-shot
tasks (N classes, K support and Q query samples each) for every embedding it is given, so the
raw features (the reference every head must beat), the MLP head and the GLAI head are
compared on identical tasks.

    python examples/few_shot.py
"""

from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from glai.fewshot import FewShotHead, evaluate

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
base, novel = y < 6, y >= 6

tasks = {"n_way": 4, "k_shot": 1, "n_tasks": 200, "random_state": 1}  # the same 200 tasks
raw = evaluate(X[novel], y[novel], **tasks)
print(f"raw features:  {raw['accuracy']:.3f} +- {raw['ci95']:.3f}")
for kind in ("mlp", "glai"):
    head = FewShotHead((64,), 32, kind=kind, n_way=5, k_shot=5, n_query=5, episodes=300,
                       random_state=0)  # fmt: skip
    head.fit(X[base], y[base])
    scores = evaluate(X[novel], y[novel], transform=head, **tasks)
    print(f"{kind} head: {scores['accuracy']:.3f} +- {scores['ci95']:.3f}")
