"""Default arguments on small data: GLAI and MLP heads vs scikit-learn's MLPClassifier((256,)).

scikit-learn's bundled data sets (iris 150 samples, wine 178, breast cancer 569, digits 1797),
standardised, 3 stratified 70/30 splits; every estimator with its default arguments (only the
seed set). Prints a Markdown table of mean test accuracy and the gap to scikit-learn's MLP.

    python scripts/small_data.py [--splits 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier, MLPHeadClassifier

DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast cancer": load_breast_cancer,
    "digits": load_digits,
}
MODELS = {
    "GLAIClassifier()": lambda seed: GLAIClassifier(random_state=seed),
    "MLPHeadClassifier()": lambda seed: MLPHeadClassifier(random_state=seed),
    "sklearn MLPClassifier((256,))": lambda seed: MLPClassifier((256,), random_state=seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # sklearn's at max_iter
    names = list(MODELS)
    print("| data set (n) | " + " | ".join(names) + " | GLAI - sklearn | MLP head - sklearn |")
    print("|---|" + "---:|" * (len(names) + 2))
    for data_name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        acc: dict[str, list[float]] = {m: [] for m in names}
        seconds = dict.fromkeys(names, 0.0)
        splits = StratifiedShuffleSplit(args.splits, test_size=0.3, random_state=0)
        for seed, (tr, te) in enumerate(splits.split(X, y)):
            for m in names:
                pipe = make_pipeline(StandardScaler(), MODELS[m](seed))
                t0 = time.perf_counter()
                pipe.fit(X[tr], y[tr])
                seconds[m] += time.perf_counter() - t0
                acc[m].append(pipe.score(X[te], y[te]))
        mean = {m: float(np.mean(v)) for m, v in acc.items()}
        sk = mean[names[2]]
        cells = [f"{mean[m]:.4f} ({seconds[m] / args.splits:.1f} s)" for m in names]
        gaps = [f"{100 * (mean[m] - sk):+.2f} pts" for m in names[:2]]
        print(f"| {data_name} ({len(X)}) | " + " | ".join(cells + gaps) + " |", flush=True)
    print(
        f"\nMean test accuracy over {args.splits} stratified 70/30 splits (mean fit seconds per "
        f"split in brackets); {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}."
    )


if __name__ == "__main__":
    main()
