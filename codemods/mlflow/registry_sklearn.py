"""registry.mlflow for scikit-learn: log the estimator fitted last with ``mlflow.sklearn.log_model``
and register it, right after its fit (or where a helper that returns it is called)."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, find_calls, region_of
from ._registry import (
    Trained,
    assigned_name,
    constructor_class,
    dotted_receiver,
    first_argument,
    insert_after,
    is_returned,
    last_site,
    lift_parameter_model,
    lift_to_caller,
    method_named,
    registered_name,
    source_of,
)

FIT_METHODS = ("fit", "partial_fit", "fit_predict")

# Estimators without predict(): the sklearn flavour gives them no pyfunc flavour (they would not
# load with mlflow.pyfunc.load_model), so they are served through transform() instead.
TRANSFORM_ONLY = frozenset(
    (
        "PCA KernelPCA IncrementalPCA SparsePCA MiniBatchSparsePCA TruncatedSVD NMF MiniBatchNMF FastICA "
        "FactorAnalysis LatentDirichletAllocation DictionaryLearning MiniBatchDictionaryLearning "
        "StandardScaler MinMaxScaler MaxAbsScaler RobustScaler Normalizer QuantileTransformer "
        "PowerTransformer PolynomialFeatures SplineTransformer OneHotEncoder OrdinalEncoder "
        "Isomap LocallyLinearEmbedding SpectralEmbedding GaussianRandomProjection "
        "SparseRandomProjection CountVectorizer TfidfVectorizer HashingVectorizer SelectKBest "
        "VarianceThreshold Nystroem RBFSampler"
    ).split()
)


def registration(trained: Trained) -> str:
    name = registered_name(trained.model, trained.model_class)
    if name == "model":
        name = "sklearn-model"
    if trained.model_class in TRANSFORM_ONLY:
        return (
            "with mlflow.start_run():\n"
            f"    # {trained.model_class} has no predict(): the registered model serves its transform().\n"
            "    mlflow.pyfunc.log_model(\n"
            '        name="model",\n'
            f"        python_model={trained.model}.transform,\n"
            f"        input_example={trained.inputs}[:5],\n"
            f'        registered_model_name="{name}",\n'
            "    )\n"
        )
    # cloudpickle, not MLflow 3's default skops: skops refuses to load estimators whose internals
    # (trees, GP kernels, ...) are not listed one by one as trusted types.
    return (
        "with mlflow.start_run():\n"
        "    mlflow.sklearn.log_model(\n"
        f"        {trained.model},\n"
        '        name="model",\n'
        f"        input_example={trained.inputs}[:5],\n"
        f'        registered_model_name="{name}",\n'
        '        serialization_format="cloudpickle",\n'
        "    )\n"
    )


class SklearnMlflowRegistry(ActionCodemod):
    """After the last estimator fit, log the fitted estimator with ``mlflow.sklearn.log_model`` in a
    run and register it; the input example is the first rows of the data it was fitted on."""

    ACTION = "registry.mlflow"
    FRAMEWORKS = ("sklearn",)
    DESCRIPTION = "Register the trained scikit-learn model in the MLflow Model Registry"

    EXAMPLES = [
        Example(
            before='''\
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

X, y = load_iris(return_X_y=True)
forest = RandomForestClassifier(n_estimators=10)
forest.fit(X, y)
print(f"final accuracy: {forest.score(X, y):.3f}")
''',
            after='''\
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
import mlflow

X, y = load_iris(return_X_y=True)
forest = RandomForestClassifier(n_estimators=10)
forest.fit(X, y)

# Register the trained model in the MLflow Model Registry.
with mlflow.start_run():
    mlflow.sklearn.log_model(
        forest,
        name="model",
        input_example=X[:5],
        registered_model_name="random-forest-classifier",
        serialization_format="cloudpickle",
    )
print(f"final accuracy: {forest.score(X, y):.3f}")
''',
        ),
        Example(
            before='''\
from sklearn.linear_model import Ridge


def fit_ridge(X_train, y_train, alpha):
    return Ridge(alpha=alpha).fit(X_train, y_train)


def main(X, y):
    ridge = fit_ridge(X, y, 0.5)
    return ridge.score(X, y)
''',
            after='''\
from sklearn.linear_model import Ridge
import mlflow


def fit_ridge(X_train, y_train, alpha):
    return Ridge(alpha=alpha).fit(X_train, y_train)


def main(X, y):
    ridge = fit_ridge(X, y, 0.5)

    # Register the trained model in the MLflow Model Registry.
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            ridge,
            name="model",
            input_example=X[:5],
            registered_model_name="ridge",
            serialization_format="cloudpickle",
        )
    return ridge.score(X, y)
''',
        ),
        Example(
            before='''\
import numpy as np
from sklearn.decomposition import PCA

X = np.random.rand(100, 8)
pca = PCA(n_components=2)
embedded = pca.fit(X).transform(X)
np.save("embedded.npy", embedded)
''',
            after='''\
import numpy as np
from sklearn.decomposition import PCA
import mlflow

X = np.random.rand(100, 8)
pca = PCA(n_components=2)
embedded = pca.fit(X).transform(X)

# Register the trained model in the MLflow Model Registry.
with mlflow.start_run():
    # PCA has no predict(): the registered model serves its transform().
    mlflow.pyfunc.log_model(
        name="model",
        python_model=pca.transform,
        input_example=X[:5],
        registered_model_name="pca",
    )
np.save("embedded.npy", embedded)
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import mlflow
from sklearn.linear_model import Ridge

model = Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
mlflow.sklearn.log_model(model, name="model")
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
from sklearn.preprocessing import StandardScaler

scaled = StandardScaler().fit_transform([[0.0], [1.0]])
''',
            reason="no estimator .fit",
        ),
        Decline(
            source='''\
from sklearn.linear_model import Ridge

def train(X, y):
    return Ridge().fit(X, y)
''',
            reason="not bound to a name",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if Imports.of(tree).uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        # ``self.fit(...)`` is a class's own method (a training helper), not an estimator's fit
        fits = [s for s in find_calls(tree, method_named(*FIT_METHODS)) if dotted_receiver(s.call) not in ("self", "cls")]
        site = last_site(fits, "estimator .fit(...) call")
        inputs = first_argument(site.call, "X")
        if inputs is None:
            raise SkipFile("the last .fit(...) call has no training data argument")
        if is_returned(site):
            trained = lift_to_caller(tree, site, inputs)
        elif (lifted := lift_parameter_model(tree, site, inputs)) is not None:
            trained = lifted
        else:
            model = dotted_receiver(site.call) or assigned_name(site)
            if model is None:
                raise SkipFile("the fitted estimator is not bound to a name")
            region = region_of(site)
            if isinstance(region.owner.body[region.index], cst.SimpleStatementLine) and any(
                isinstance(small, cst.Return) for small in region.owner.body[region.index].body
            ):
                raise SkipFile("the estimator is fitted in a return statement")
            trained = Trained(model=model, inputs=source_of(inputs), region=region)
        trained = Trained(trained.model, trained.inputs, trained.region, constructor_class(tree, trained.model))
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        return insert_after(tree, trained.region, registration(trained), "Register the trained model in the MLflow Model Registry.")
