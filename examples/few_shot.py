"""Few-shot classification on frozen features, both readings: an embedding head trained on
base classes and scored by nearest class mean on novel classes it never saw, and a classifier
fitted on each task's support set.

Digits 0-5 are the base classes, 6-9 the novel ones. ``evaluate`` draws the same few-shot
tasks (N classes, K support and Q query samples each) for every embedding it is given, so the
raw features (the reference every head must beat), the MLP head and the GLAI head are
compared on identical tasks.

    python examples/few_shot.py
"""

from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier
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
# the other reading: a clone of the classifier fitted on each task's 4 support samples
per_task = evaluate(X[novel], y[novel], classifier=GLAIClassifier(random_state=0),
                    **{**tasks, "n_tasks": 20})  # 20 tasks: n_tasks is part of the draw
print(f"GLAI per task: {per_task['accuracy']:.3f} +- {per_task['ci95']:.3f}")
