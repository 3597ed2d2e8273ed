"""W&B codemods name the project after the file they adapt (CodemodContext.filename), falling back to
the folder for generic names like train.py, and to the module docstring when no filename is known."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.codemod import CodemodContext

from mlops_lsp.codemods.wandb.tracking_sklearn import SklearnWandbTracking

SCRIPT = '''\
"""Decision tree regression on synthetic data."""
import numpy as np
from sklearn.tree import DecisionTreeRegressor

X = np.random.rand(50, 2)
y = X.sum(axis=1)
model = DecisionTreeRegressor(max_depth=3).fit(X, y)
r2 = model.score(X, y)
print(f"r2: {r2:.3f}")
'''


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("/home/me/experiments/cifar_resnet.py", "cifar-resnet"),
        ("/home/me/experiments/mnist-mlp/train.py", "mnist-mlp"),
        (None, "decision-tree-regression-synthetic"),
    ],
)
def test_project_comes_from_the_file_name(filename: str | None, project: str) -> None:
    context = CodemodContext(filename=filename)
    adapted = SklearnWandbTracking(context).transform_module(cst.parse_module(SCRIPT)).code
    assert f'wandb.init(project="{project}"' in adapted
