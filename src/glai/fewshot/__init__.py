"""Few-shot classification on frozen features with a GLAI (or MLP) embedding head.

A few-shot task (an *episode*) draws ``N`` classes (``n_way``), ``K`` labelled *support*
samples (``k_shot``) and ``Q`` *query* samples (``n_query``) of each. A query is classified
by the nearest class mean (prototype) of the support embeddings, as in prototypical networks
(Snell, Swersky & Zemel, 2017, arXiv:1703.05175):

    c_n = (1/K) sum_k f(x_{n,k}),     p(y = n | x) = softmax_n( -||f(x) - c_n||^2 )

The other reading of "few-shot classifier" on a frozen backbone, a new classifier fitted on
each task's support set (Tian et al., 2020, arXiv:2003.11539), is
``evaluate(X, y, classifier=EST)`` (:mod:`glai.fewshot.per_task`), on the same tasks.

``f`` is the identity for the reference (nearest class mean on the raw features) or a head
trained episodically on *base* classes and evaluated on disjoint *novel* classes: the GLAI
block of GreenLightningAI (Mestre et al., 2025, arXiv:2510.00883), with its structural phase
(an MLP tracked by the path distance ``m_t``), the freeze and the quantitative phase on cached
gates, or the MLP it replaces.

The sampler has the semantics of easyfsl's ``TaskSampler`` (N distinct classes, then K + Q
distinct samples of each, support first). easyfsl itself is not a dependency: installing it
pulls torchvision, whose current release needs another torch than the one glai pins.
"""

from glai.fewshot.evaluation import evaluate
from glai.fewshot.head import FewShotHead, train_episodes
from glai.fewshot.per_task import classifier_accuracies
from glai.fewshot.prototypes import prototype_logits, prototypes, task_accuracies
from glai.fewshot.tasks import Tasks, sample_tasks

__all__ = [
    "Tasks",
    "sample_tasks",
    "prototypes",
    "prototype_logits",
    "task_accuracies",
    "evaluate",
    "classifier_accuracies",
    "FewShotHead",
    "train_episodes",
]
