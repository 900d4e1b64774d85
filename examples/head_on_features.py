"""A GLAI classification head on a feature matrix, beside the MLP head it replaces.

Both heads are scikit-learn estimators trained by the same loop with the same
hyper-parameters; GLAI matches the MLP's parameter count by default. Here the "features" are
the 64 pixels of scikit-learn's digits, standardised in a pipeline as any MLP's inputs
should be; in practice they are the outputs of a frozen backbone.

    python examples/head_on_features.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier, MLPHeadClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

for head in (MLPHeadClassifier((64,), random_state=0), GLAIClassifier((64,), random_state=0)):
    model = make_pipeline(StandardScaler(), head).fit(X_train, y_train)
    fitted = model[-1]
    print(
        f"{type(fitted).__name__}: test accuracy {model.score(X_test, y_test):.3f}, "
        f"{fitted.n_trainable_params_} trainable parameters"
    )

glai = model[-1]  # the GLAI head: when its structure froze, and what the paths became
print(f"structure frozen after epoch {glai.structure_frozen_epoch_}; {glai.path_model_}")
