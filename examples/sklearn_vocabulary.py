"""scikit-learn's vocabulary: a grid over ``MLPClassifier``'s names, and validation data in a
``Pipeline``.

The heads take ``MLPClassifier``'s parameter names with their meanings (``max_iter``,
``alpha``, ``early_stopping``, ``n_iter_no_change``, ...) and set its fitted attributes
(``loss_curve_``, ``best_validation_score_``, ``n_iter_``, ``t_``), so a search written for
scikit-learn runs as it is. ``X_val`` passed to ``fit`` through a ``Pipeline`` is NOT
transformed by the pipeline's earlier steps: early stopping then scores raw inputs against a
model trained on scaled ones (the head warns). The pipeline-safe ways: scikit-learn's metadata
routing with ``transform_input``, or holding out part of the training data
(``early_stopping=True``).

    python examples/sklearn_vocabulary.py
"""

import warnings

import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier

X, y = load_digits(return_X_y=True)  # pixels in 0..16: a scaler's work to do
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.2, random_state=0)

# 1. A grid over scikit-learn's names, as for an MLPClassifier in a pipeline.
search = GridSearchCV(
    make_pipeline(StandardScaler(), GLAIClassifier((32,), random_state=0)),
    {"glaiclassifier__alpha": [0.0, 1.0], "glaiclassifier__max_iter": [10, 40]},
    cv=2,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # the short fits stop at max_iter
    search.fit(X_train, y_train)
print(f"grid: best {search.best_params_}, cross-validated accuracy {search.best_score_:.3f}")

# 2. X_val through the pipeline's step parameter: used untransformed (and warned about).
naive = make_pipeline(StandardScaler(), GLAIClassifier((32,), random_state=0))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive.fit(X_fit, y_fit, glaiclassifier__X_val=X_val, glaiclassifier__y_val=y_val)
warned = any("X_val" in str(w.message) for w in caught)

# 3. The pipeline-safe ways: route X_val through the scaler (scikit-learn >= 1.6) ...
with sklearn.config_context(enable_metadata_routing=True):
    head = GLAIClassifier((32,), random_state=0).set_fit_request(X_val=True, y_val=True)
    routed = Pipeline([("scale", StandardScaler()), ("head", head)], transform_input=["X_val"])
    routed.fit(X_fit, y_fit, X_val=X_val, y_val=y_val)
# ... or hold out a validation_fraction of the training data inside the head.
held = make_pipeline(StandardScaler(), GLAIClassifier((32,), early_stopping=True, random_state=0))
held.fit(X_train, y_train)

for name, model in (("untransformed X_val", naive), ("routed X_val", routed),
                    ("held-out 10%", held)):  # fmt: skip
    fitted = model[-1]
    print(
        f"{name}: best validation score {fitted.best_validation_score_:.3f} after "
        f"{fitted.n_iter_} epochs; accuracy on the real validation data "
        f"{model.score(X_val, y_val):.3f}, on test {model.score(X_test, y_test):.3f}"
    )
print(f"warned about the untransformed X_val: {warned}")
