"""Bench settings as data: which features, which heads, how many seeds.

A :class:`Setting` says how to build the feature matrices (data set, frozen backbone,
resolution, splits, subset sizes) and which heads to compare on them (the MLP's hidden
sizes, the values of ``rho`` tried besides the parameter-matched ``"auto"``). Training
hyper-parameters left at None are the library's defaults, so the bench follows them when
they are retuned instead of freezing today's values here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

__all__ = [
    "Setting", "FewShotSetting", "RetrainSetting", "SSLSetting", "IncrementalSetting",
    "FederatedSetting", "SETTINGS", "get_setting",
]  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """One benchmark setting.

    Data:
        dataset: ``"fashion-mnist"``, ``"wordnet"`` or ``"mnist1d"`` (a key of
            ``glai_bench.data.LOADERS``).
        backbone: ``"efficientnet-lite0"``, ``"all-MiniLM-L6-v2"`` or None (raw inputs).
        resolution: image side for the vision backbone (px).
        val_fraction: share of the training split held out, once, as the validation split.
        test_fraction: share of all data held out as the test split, for data without an
            official one (WordNet).
        n_samples: size of a generated data set (MNIST-1D: 80% train, 20% test).
        n_train, n_val, n_test: subset sizes drawn (stratified, fixed) from each split;
            None keeps the whole split.
        standardize: scale features to zero mean and unit variance with train statistics.
        split_seed: seed of the splits and subsets; the same for every training seed.

    Heads:
        hidden: hidden sizes of the MLP head (GLAI replaces this MLP).
        rhos: reduction factors tried besides ``"auto"`` (the matched parameter count).
        widths: hidden widths of further MLP heads, and budgets: parameter budgets of further
            GLAI heads (``rho="auto"``) as multiples of the matched MLP's count, for the
            accuracy-versus-time picture (:func:`glai_bench.plots.plot_accuracy_vs_time`).
        long_structure_epochs: structural epochs of the "fixed long structural phase" ablation.
        learning_rate, batch_size, max_epochs, patience: shared by the MLP and GLAI heads;
            None means the library's default.
        seeds: training seeds ``0 .. seeds-1``.
        quick: fields replaced by :meth:`quick_variant` (small subsets, few seeds).

    ``protocol`` (a class attribute, not a field) names the kind of setting: the key of
    :data:`glai_bench.protocols.PROTOCOLS` that runs it.
    """

    protocol: ClassVar[str] = "classification"

    name: str
    description: str
    dataset: str
    backbone: str | None = None
    resolution: int | None = None
    val_fraction: float = 0.1
    test_fraction: float | None = None
    n_samples: int | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    standardize: bool = True
    split_seed: int = 0
    hidden: tuple[int, ...] = (256,)
    rhos: tuple[float, ...] = ()
    widths: tuple[int, ...] = ()
    budgets: tuple[float, ...] = ()
    long_structure_epochs: int = 40
    learning_rate: float | None = None
    batch_size: int | None = None
    max_epochs: int | None = None
    patience: int | None = None
    seeds: int = 5
    quick: dict[str, Any] = field(default_factory=dict, compare=False)
    is_quick: bool = False

    def quick_variant(self) -> Setting:
        """The same setting on small subsets with few seeds (``glai bench NAME --quick``)."""
        if self.is_quick:
            return self
        return replace(self, **self.quick, is_quick=True)

    def head_kwargs(self) -> dict[str, Any]:
        """Hyper-parameters shared by the MLP and GLAI heads that this setting overrides, in
        the heads' (scikit-learn's) names: ``patience`` is ``n_iter_no_change + 1``."""
        kw = self._set_fields({
            "learning_rate": "learning_rate_init", "batch_size": "batch_size",
            "max_epochs": "max_iter", "patience": "n_iter_no_change",
        })  # fmt: skip
        if "n_iter_no_change" in kw:
            kw["n_iter_no_change"] -= 1
        return kw

    def _set_fields(self, names: dict[str, str]) -> dict[str, Any]:
        """``{argument: value}`` of the fields ``names`` maps to arguments, where not None."""
        return {arg: getattr(self, f) for f, arg in names.items() if getattr(self, f) is not None}

    @property
    def stem(self) -> str:
        """File-name stem of this setting's outputs (``NAME`` or ``NAME-quick``)."""
        return self.name + ("-quick" if self.is_quick else "")


@dataclass(frozen=True)
class FewShotSetting(Setting):
    """A few-shot setting: heads trained on base classes, scored on novel classes.

    The data set gives one feature matrix and one or more labelings of it (``splits``); each
    labeling's classes are split once, by ``split_seed``, into base and novel classes.

    Splits:
        splits: labelings to run (for WordNet: ``"lexname"``, ``"hypernym"``).
        n_novel: ``(labeling, number of novel classes)`` pairs; the rest are base classes.
        min_members: smallest class kept (hypernym groups; >= k_shot + n_query of every task).
        max_per_class: ``(labeling, cap)`` pairs: at most this many samples of a class (a
            fixed random subset); a labeling not named keeps all.
    Tasks (on the novel classes; the same for every head and seed):
        tasks: ``(n_way, k_shot)`` pairs scored; n_query, n_tasks per pair.
    Heads, episodic (a :class:`glai.fewshot.FewShotHead` per kind; None: the library's
    default): out_features, episodes, n_way_train, k_shot_train, n_query_train; glai_budget,
    the GLAI head's path budget (None: the library's, the matched count); scales, candidate
    temperatures (``FewShotHead(scale=...)``, chosen on held-out base classes; None: the
    library's one scale).
    Per-task classifiers (fitted on each task's support set, estimator defaults):
        per_task_tasks: how many of the ``n_tasks`` tasks each seed scores (None: all; a fit
        per task and seed costs far more than nearest class mean).
        per_task_slices: False: every seed scores the first ``per_task_tasks`` tasks; True:
        seed ``s`` scores tasks ``[s m, (s + 1) m)`` (``m = per_task_tasks``, ``seeds * m <=
        n_tasks``), so each task is fitted once per classifier and the seeds together cover
        ``seeds * m`` distinct tasks (logistic regression, seedless, scores all of them).
    Inputs: the heads and per-task classifiers see the features standardised with base
    statistics when ``standardize`` (inherited), else the backbone's own; nearest class mean
    on the backbone's own features is the reference.
    """

    protocol: ClassVar[str] = "fewshot"

    splits: tuple[str, ...] = ("lexname", "hypernym")
    n_novel: tuple[tuple[str, int], ...] = ()
    min_members: int = 20
    max_per_class: tuple[tuple[str, int], ...] = ()
    tasks: tuple[tuple[int, int], ...] = ((5, 1), (5, 5), (20, 5))
    n_query: int = 15
    n_tasks: int = 1000
    out_features: int | None = None
    episodes: int | None = None
    n_way_train: int | None = None
    k_shot_train: int | None = None
    n_query_train: int | None = None
    glai_budget: int | None = None
    per_task_tasks: int | None = None
    per_task_slices: bool = False
    scales: tuple[float, ...] | None = None

    def fewshot_kwargs(self) -> dict[str, Any]:
        """:class:`glai.fewshot.FewShotHead` arguments this setting sets."""
        kw = self._set_fields({
            "episodes": "episodes", "n_way_train": "n_way", "k_shot_train": "k_shot",
            "n_query_train": "n_query", "learning_rate": "learning_rate", "patience": "patience",
        })  # fmt: skip
        if self.scales is not None:
            kw["scale"] = list(self.scales)
        return {"out_features": self.out_features, **kw}


@dataclass(frozen=True)
class SSLSetting(Setting):
    """A self-supervised setting: SimCLR projection heads on cached views of the images.

    The splits (``n_train``, ``n_val``, ``n_test``) are those of :class:`Setting`; the
    training images are the SSL images (their labels only feed the probes).

    Views (choice: see ``glai_bench.views.augment``):
        n_views: augmented views per training image, extracted once; each epoch draws two.
        n_val_views: views per validation image (views 0 and 1 score the held-out loss).
        crop_scale, crop_ratio, max_rotation, max_translation, flip: the augmentation.
    Heads (``glai.ssl.ProjectionHead``, MLP and GLAI at its parameter count):
        hidden (inherited), out_features, batch_norm, temperature; learning_rate and
        batch_size (inherited; None: the library's ``TrainConfig``); ssl_max_epochs and
        ssl_patience (the heads' own: there is no SSL estimator whose defaults to follow).
    Probes: knn_k neighbours (cosine) for the kNN accuracy.
    """

    protocol: ClassVar[str] = "ssl"

    n_views: int = 6
    n_val_views: int = 2
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    max_rotation: float = 10.0
    max_translation: float = 0.1
    flip: bool = True
    out_features: int = 128
    batch_norm: bool = True
    temperature: float = 0.5
    knn_k: int = 20
    ssl_max_epochs: int = 150
    ssl_patience: int | None = 15

    def augmentation(self) -> dict[str, Any]:
        """Keyword arguments of ``glai_bench.views.augment`` (also part of the cache key)."""
        return {"scale": list(self.crop_scale), "ratio": list(self.crop_ratio),
                "max_rotation": self.max_rotation,
                "max_translation": self.max_translation, "flip": self.flip}  # fmt: skip

    def train_kwargs(self) -> dict[str, Any]:
        """``glai.training.TrainConfig`` fields this setting sets."""
        kw = self._set_fields({"learning_rate": "lr", "batch_size": "batch_size"})
        return {**kw, "max_epochs": self.ssl_max_epochs, "patience": self.ssl_patience}


@dataclass(frozen=True)
class RetrainSetting(Setting):
    """A retraining setting: heads fitted on the first data, retrained when more arrive.

    scenario:
        ``"halves"``: the training split arrives in two halves (the first, then all of it);
        ``"shift"``: the clean training split, then the same images corrupted by ``shift``
        (through the same backbone; validation and test are corrupted too);
        ``"classes"``: the samples of the first ``first_classes`` classes, then all.
    shift: ``"noise-S"`` (Gaussian pixel noise, std ``S`` in [0, 1] units) or ``"blur-S"``
        (Gaussian blur, sigma ``S`` px), applied before the backbone; fixed by split_seed.
    first_classes: classes ``0 .. first_classes - 1`` come first (scenario ``"classes"``).
    """

    protocol: ClassVar[str] = "retrain"

    scenario: str = "halves"
    shift: str | None = None
    first_classes: int | None = None


@dataclass(frozen=True)
class IncrementalSetting(Setting):
    """A class-incremental setting (issue 18): ``base_classes`` first, then ``steps`` (classes
    per step), no stored samples but ``replay_per_class`` for the replay baseline.

    glai_chains: gates per output of the GLAI heads (the budget is this many paths per base
        class; the random-feature ridge gets as many unknowns). mlp_epochs: epochs of the MLP
        heads per step.
    """

    protocol: ClassVar[str] = "incremental"

    base_classes: int = 2
    steps: tuple[int, ...] = ()
    glai_chains: int = 6
    replay_per_class: int = 20
    mlp_epochs: int = 20


@dataclass(frozen=True)
class FederatedSetting(Setting):
    """A federated setting (issue 18): the training rows split over clients, label-skewed.

    clients: numbers of clients; dirichlet: the concentrations ``beta`` of the per-class
    Dirichlet split (small: each client holds few classes); rounds: FedAvg rounds scored;
    local_epochs: each client's epochs per round; glai_chains: as for
    :class:`IncrementalSetting` (the structure is learned on the validation split: a small
    public set at the server).
    """

    protocol: ClassVar[str] = "federated"

    clients: tuple[int, ...] = (10, 100)
    dirichlet: tuple[float, ...] = (0.1, 1.0)
    rounds: tuple[int, ...] = (1, 5, 20)
    local_epochs: int = 1
    glai_chains: int = 6


# The features several settings share. WordNet glosses through all-MiniLM-L6-v2 (no official
# split: 15% of all data for the test split, 15% for the validation split):
_WORDNET_MINILM: dict[str, Any] = {
    "dataset": "wordnet",
    "backbone": "all-MiniLM-L6-v2",
    "val_fraction": 0.15 / 0.85,
    "test_fraction": 0.15,
}
# Fashion-MNIST through EfficientNet-Lite0 (the official test split; a sixth of the training
# split held out for validation).
_FASHION_EFFNET: dict[str, Any] = {
    "dataset": "fashion-mnist",
    "backbone": "efficientnet-lite0",
    # 64 px: a linear probe gains ~10 points over 32 px for 3x the extraction time
    "resolution": 64,
    "val_fraction": 10_000 / 60_000,
}
# Quick variants draw small subsets, so their features are extracted (and cached) on their own
# in about a minute; "fashion-effnet"'s quick subsets are also what `glai demo` uses. The
# settings below that run on these subsets read the same cached features.
_WORDNET_SUBSETS: dict[str, Any] = {"n_train": 5000, "n_val": 1500, "n_test": 1500}
_FASHION_SUBSETS: dict[str, Any] = {"n_train": 5000, "n_val": 1000, "n_test": 2000}
_WORDNET: dict[str, Any] = {**_WORDNET_MINILM, **_WORDNET_SUBSETS}
_FASHION: dict[str, Any] = {**_FASHION_EFFNET, **_FASHION_SUBSETS}
# The linear-head settings of issue 18 on those subsets: per data set, its features in words,
# their fields, the number of classes and the GLAI heads' gates per output (glai_chains).
_LINEAR_DATA: dict[str, tuple[str, dict[str, Any], int, int]] = {
    "wordnet-minilm": ("all-MiniLM-L6-v2 WordNet gloss embeddings", _WORDNET, 41, 6),
    "fashion-effnet": ("EfficientNet-Lite0 Fashion-MNIST features", _FASHION, 10, 2),
}
_LINEAR_SETTINGS = (
    *(
        IncrementalSetting(
            name=f"{data}-incremental{suffix}",
            description=f"{what} ({fields['n_train']:,} training rows), {n_classes} classes: "
            f"{base}, then {steps_in_words}",
            **fields,
            base_classes=base,
            steps=steps,
            glai_chains=chains,
            quick={"seeds": 2, "mlp_epochs": 5},
        )
        for data, suffix, base, steps, steps_in_words in (
            ("wordnet-minilm", "", 11, (10, 10, 10), "3 steps of 10"),
            ("wordnet-minilm", "-1class", 21, (1,) * 20, "20 steps of one"),
            ("fashion-effnet", "", 4, (2, 2, 2), "3 steps of 2"),
        )
        for what, fields, n_classes, chains in (_LINEAR_DATA[data],)
    ),
    *(
        FederatedSetting(
            name=f"{data}-federated",
            description=f"{what} ({fields['n_train']:,} training rows, {n_classes} classes) "
            "over label-skewed clients",
            **fields,
            glai_chains=chains,
            quick={"seeds": 2, "clients": (10,), "dirichlet": (0.1,), "rounds": (1, 5)},
        )
        for data, (what, fields, n_classes, chains) in _LINEAR_DATA.items()
    ),
)




def _classification(quick: dict[str, Any], **fields: Any) -> Setting:
    """A classification setting on the heads every one of them compares: the MLP 256 and its
    GLAI replacements, MLPs 32, 128 and 1024 wide; its quick variant has 2 seeds and one rho
    besides ``"auto"``, and ``quick``'s fields."""
    return Setting(
        hidden=(256,), widths=(32, 128, 1024), quick={"seeds": 2, "rhos": (16,), **quick},
        **fields,
    )  # fmt: skip


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _classification(
            name="fashion-effnet",
            description="EfficientNet-Lite0 (ImageNet, frozen) features of Fashion-MNIST",
            **_FASHION_EFFNET,
            rhos=(4, 8, 16, 32),
            budgets=(0.5, 2),
            quick={**_FASHION_SUBSETS, "budgets": (0.5, 4)},
        ),
        _classification(
            name="wordnet-minilm",
            description="all-MiniLM-L6-v2 (frozen) embeddings of WordNet glosses "
            "-> 41 lexicographer files",
            **_WORDNET_MINILM,
            rhos=(8, 16, 32, 64),
            # lead 6 of issue 7: at 41 classes GLAI needed 4-8x the MLP's parameters to match it
            # (x8 is left out of the full run: ~2 min per seed on one core)
            budgets=(2, 4),
            quick={**_WORDNET_SUBSETS, "budgets": (2, 8)},
        ),
        _classification(
            name="mnist1d-raw",
            description="MNIST-1D raw 40-d signals (a limit of the method: no backbone)",
            dataset="mnist1d",
            n_samples=10_000,
            val_fraction=0.25,
            rhos=(2, 4, 16, 32),
            budgets=(0.5, 2, 4),
            quick={"widths": (32, 1024), "budgets": (4,)},
        ),
        _classification(
            name="fashion-raw",
            description="Fashion-MNIST raw pixels in [0, 1] (a limit of the method: no backbone)",
            dataset="fashion-mnist",
            val_fraction=10_000 / 60_000,
            # Per-pixel standardising divides border pixels by a near-zero std; keep [0, 1].
            standardize=False,
            rhos=(4, 8, 16, 32),
            budgets=(0.5, 2),
            quick={**_FASHION_SUBSETS, "widths": (32, 1024), "budgets": (4,)},
        ),
        # Retraining (issue 9). 3,000 / 1,000 / 1,000 images keep the feature extraction of
        # both domains (10,000 images at 64 px) to ~8 min and 5 seeds of a scenario to ~5 min.
        *(
            RetrainSetting(
                name=f"fashion-effnet-retrain-{scenario}",
                description=f"EfficientNet-Lite0 features of Fashion-MNIST, retraining: {what}",
                **_FASHION_EFFNET,
                n_train=3000,
                n_val=1000,
                n_test=1000,
                hidden=(256,),
                scenario=scenario,
                **extra,  # type: ignore[arg-type]
                quick={"n_train": 600, "n_val": 200, "n_test": 200, "seeds": 2},
            )
            for scenario, what, extra in (
                ("halves", "the training data arrive in two halves", {}),
                ("shift", "then the same images with Gaussian pixel noise (std 0.3)",
                 {"shift": "noise-0.3"}),
                ("classes", "6 of the 10 classes first, then all", {"first_classes": 6}),
            )
        ),
        FewShotSetting(
            name="wordnet-minilm-fewshot",
            description="all-MiniLM-L6-v2 (frozen) embeddings of WordNet glosses, few-shot: "
            "novel lexicographer files (25 base, 16 novel) and novel noun hypernym groups",
            dataset="wordnet",
            backbone="all-MiniLM-L6-v2",
            hidden=(256,),
            splits=("lexname", "hypernym"),
            n_novel=(("lexname", 16), ("hypernym", 200)),
            min_members=20,
            # caps bound the glosses to embed (noun.artifact alone has 11,587 synsets)
            max_per_class=(("lexname", 300), ("hypernym", 30)),
            # per-task classifiers: 5 seeds x disjoint 200-task slices = the 1,000 tasks
            per_task_tasks=200,
            per_task_slices=True,
            quick={"seeds": 2, "n_tasks": 200, "episodes": 300, "per_task_tasks": 20,
                   "per_task_slices": False,
                   "max_per_class": (("lexname", 60), ("hypernym", 20))},
        ),
        FewShotSetting(
            name="fashion-effnet-fewshot",
            description="EfficientNet-Lite0 (ImageNet, frozen) features of Fashion-MNIST, "
            "few-shot: 5 clothing classes novel, 5 base",
            **_FASHION_EFFNET,
            # the images of fashion-effnet --quick, pooled: its feature cache serves
            **_FASHION_SUBSETS,
            # standardising these features cost nearest class mean 3-6 points (measured,
            # scripts/fewshot_heads.py): the heads read the backbone's own features
            standardize=False,
            hidden=(256,),
            splits=("clothing",),
            n_novel=(("clothing", 5),),
            min_members=20,
            tasks=((5, 1), (5, 5)),  # 20-way needs 20 novel classes: Fashion has 10 in all
            # one path per output of the 1280-wide residual embedding (the matched budget of
            # the MLP 1280 -> 256 -> 1280, 656,896, holds none): 2.5x the MLP's parameters
            glai_budget=1281 * 1280 + 1280,
            n_way_train=5,  # all 5 base classes (the head holds 2 out to validate on)
            # per-task classifiers: 5 seeds x disjoint 200-task slices = the 1,000 tasks
            per_task_tasks=200,
            per_task_slices=True,
            quick={"seeds": 2, "n_tasks": 200, "episodes": 300, "per_task_tasks": 20,
                   "per_task_slices": False},
        ),
        SSLSetting(
            name="fashion-effnet-simclr",
            description="SimCLR projection heads on EfficientNet-Lite0 (ImageNet, frozen) "
            "features of augmented Fashion-MNIST views",
            **_FASHION_EFFNET,
            # (choice) sized for ~10-15 min on one CPU thread, most of it extracting the
            # 2000 x 6 + 500 x 2 views and 4500 clean images (~9 ms per image at 64 px)
            n_train=2000,
            n_val=500,
            n_test=2000,
            n_views=6,
            hidden=(512,),
            quick={"n_train": 400, "n_val": 200, "n_test": 400, "n_views": 3, "seeds": 2,
                   "ssl_max_epochs": 30},
        ),
        *_LINEAR_SETTINGS,
    )
}


def get_setting(name: str, quick: bool = False) -> Setting:
    """The setting called ``name`` (its quick variant with ``quick``)."""
    if name not in SETTINGS:
        raise KeyError(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
    setting = SETTINGS[name]
    return setting.quick_variant() if quick else setting
