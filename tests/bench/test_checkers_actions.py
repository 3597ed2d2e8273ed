"""Each action's checker on a real passing mini-script and a real failing one.

All samples adapt the same tiny original (pure Python: fast baseline) that writes `out.txt` and
prints a final line; the adapted scripts really use the target library, keep that behaviour, and
differ from the failing variant in exactly the effect the checker verifies.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlops_lsp.bench.dataset import Case, load_case
from mlops_lsp.bench.runner import SampleRun, run_sample

ORIGINAL = textwrap.dedent(
    """
    lr = 0.1
    hidden_size = 16
    for epoch in range(3):
        loss = 1.0 / (epoch + 1)
    open("out.txt", "w").write(str(loss))
    print(f"final loss: {loss:.4f}")
    """
)
FINAL = 'open("out.txt", "w").write(str(loss))\nprint(f"final loss: {loss:.4f}")\n'

TORCH_TRAINING = textwrap.dedent(
    """
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.fc2 = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))

    def train_epoch(model, optimizer):
        for _ in range(4):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        return loss.item()
    """
)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("dataset")
    made = {}
    for case_id, framework, original in (("pytorch-mini", "pytorch", ORIGINAL), ("git-mini", "gitpython", GIT_ORIGINAL)):
        (root / case_id).mkdir()
        (root / case_id / "train.py").write_text(original, encoding="utf-8")
        (root / case_id / "case.toml").write_text(
            f'framework = "{framework}"\nactions = ["tracking.mlflow"]\nargs = []\ntimeout = 120\n', encoding="utf-8"
        )
        made[case_id] = load_case(root / case_id)
    return made


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def run(cases: dict[str, Case], cache_dir: Path, action: str, source: str, case_id: str = "pytorch-mini") -> SampleRun:
    return run_sample(cases[case_id], action, source, cache_dir=cache_dir)


def assert_only_failed(sample: SampleRun, *names: str) -> None:
    failed = {name for name, ok in sample.checks.items() if not ok}
    assert failed == set(names), sample.reasons


# ---------------------------------------------------------------------------- tracking.mlflow

MLFLOW_TEMPLATE = """
import mlflow
lr = 0.1
hidden_size = 16
with mlflow.start_run():
    mlflow.log_params({"lr": lr, "hidden_size": hidden_size})
    for epoch in range(3):
        loss = 1.0 / (epoch + 1)
        mlflow.log_metric("loss", loss, step=STEP)
""" + FINAL


@pytest.mark.slow
def test_mlflow_tracking_passes(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "tracking.mlflow", MLFLOW_TEMPLATE.replace("STEP", "epoch"))
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_mlflow_tracking_of_an_iterative_trainer_needs_two_steps(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "tracking.mlflow", MLFLOW_TEMPLATE.replace("STEP", "0"))
    assert_only_failed(sample, "mlflow_metric_steps")


# ---------------------------------------------------------------------------- registry.mlflow


@pytest.mark.slow
def test_mlflow_registry_passes(cases, cache_dir) -> None:
    source = textwrap.dedent("""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    X = np.random.RandomState(0).randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    for epoch in range(3):
        loss = 1.0 / (epoch + 1)
    model = LogisticRegression().fit(X, y)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", input_example=X[:2], registered_model_name="mini",
                                 pip_requirements=["scikit-learn"])  # skips the slow inference
    """) + FINAL
    sample = run(cases, cache_dir, "registry.mlflow", source)
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_mlflow_registry_without_registration_fails(cases, cache_dir) -> None:
    source = textwrap.dedent("""
    import mlflow
    for epoch in range(3):
        loss = 1.0 / (epoch + 1)
    with mlflow.start_run():
        mlflow.log_metric("loss", loss)
    """) + FINAL
    sample = run(cases, cache_dir, "registry.mlflow", source)
    assert_only_failed(sample, "registered_model", "model_version_ready", "model_loads")


# ---------------------------------------------------------------------------- tracking.wandb

WANDB_TEMPLATE = """
import wandb
lr = 0.1
run = wandb.init(project="mini", config=CONFIG)
for epoch in range(3):
    loss = 1.0 / (epoch + 1)
    wandb.log({"loss": loss})
wandb.finish()
""" + FINAL


@pytest.mark.slow
def test_wandb_tracking_passes(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "tracking.wandb", WANDB_TEMPLATE.replace("CONFIG", '{"lr": lr}'))
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_wandb_tracking_without_config_fails(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "tracking.wandb", WANDB_TEMPLATE.replace("CONFIG", "{}"))
    assert_only_failed(sample, "wandb_config", "wandb_history", "wandb_exit_code")


# ---------------------------------------------------------------------------- hpo.optuna

OPTUNA_TEMPLATE = """
import optuna

def objective(trial):
    lr = trial.suggest_float("PARAM", 1e-3, 1.0, log=True)
    return (lr - 0.1) ** 2

study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=3)
lr = study.best_params["PARAM"]
for epoch in range(3):
    loss = 1.0 / (epoch + 1)
""" + FINAL


@pytest.mark.slow
def test_optuna_passes_and_the_study_is_stored_in_the_sandbox(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "hpo.optuna", OPTUNA_TEMPLATE.replace("PARAM", "lr"))
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_optuna_over_a_parameter_foreign_to_the_original_fails(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "hpo.optuna", OPTUNA_TEMPLATE.replace("PARAM", "momentum"))
    assert_only_failed(sample, "optuna_original_hyperparameter")


# ---------------------------------------------------------------------------- pruning.torch

TORCH_PRUNE_TEMPLATE = TORCH_TRAINING + """
import torch.nn.utils.prune as prune
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    if epoch == PRUNE_EPOCH:
        prune.global_unstructured([(model.fc1, "weight"), (model.fc2, "weight")],
                                  pruning_method=prune.L1Unstructured, amount=0.5)
    loss = train_epoch(model, optimizer)
if PRUNE_EPOCH == 3:  # after training: masks, but no optimizer step on the pruned model
    prune.global_unstructured([(model.fc1, "weight"), (model.fc2, "weight")],
                              pruning_method=prune.L1Unstructured, amount=0.5)
prune.remove(model.fc1, "weight")
prune.remove(model.fc2, "weight")
""" + FINAL


@pytest.mark.slow
def test_torch_pruning_during_training_passes(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "pruning.torch", TORCH_PRUNE_TEMPLATE.replace("PRUNE_EPOCH", "1"))
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_torch_pruning_after_training_fails(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "pruning.torch", TORCH_PRUNE_TEMPLATE.replace("PRUNE_EPOCH", "3"))
    assert_only_failed(sample, "torch_prune_during_training")


# ---------------------------------------------------------------------------- pruning.nncf

NNCF_TEMPLATE = TORCH_TRAINING + """
import nncf
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler
mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
model = nncf.prune(Net(), mode=mode, ratio=0.1, examples_inputs=x[:1])
scheduler = MultiStepMagnitudePruningScheduler(model, mode=mode, steps={0: 0.1, 1: FINAL_RATIO})
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    scheduler.step()
    loss = train_epoch(model, optimizer)
""" + FINAL


@pytest.mark.slow
def test_nncf_pruning_passes(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "pruning.nncf", NNCF_TEMPLATE.replace("FINAL_RATIO", "0.5"))
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_nncf_pruning_below_the_target_sparsity_fails(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "pruning.nncf", NNCF_TEMPLATE.replace("FINAL_RATIO", "0.2"))
    assert_only_failed(sample, "nncf_sparsity", "nncf_during_training")


# ---------------------------------------------------------------------------- translate.gitpython-dvc

GIT_ORIGINAL = textwrap.dedent(
    """
    import subprocess
    def git(*args):
        subprocess.run(["git", *args], check=True, capture_output=True)
    git("init", "-q")
    git("lfs", "track", "data.csv")
    with open("data.csv", "w") as f:
        f.write("x,y\\n" + "".join(f"{i},{i * i}\\n" for i in range(100)))
    git("add", ".gitattributes", "data.csv")
    git("commit", "-q", "-m", "add data")
    print("final rows: 100")
    """
)

DVC_SCRIPT = """
import os
import subprocess

def run(*args):
    subprocess.run(list(args), check=True, capture_output=True)

run("git", "init", "-q")
run("dvc", "init", "-q")
run("dvc", "remote", "add", "-d", "storage", os.path.abspath("dvc-storage"))
with open("data.csv", "w") as f:
    f.write("x,y\\n" + "".join(f"{i},{i * i}\\n" for i in range(100)))
run("dvc", "add", "data.csv")
with open(".gitignore", "a") as f:
    f.write("/dvc-storage\\n")
run("git", "add", "data.csv.dvc", ".gitignore", ".dvc/config")
run("git", "commit", "-q", "-m", "track data with DVC")
PUSH
print("final rows: 100")
"""


@pytest.mark.slow
def test_dvc_translation_passes(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "translate.gitpython-dvc", DVC_SCRIPT.replace("PUSH", 'run("dvc", "push", "-q")'),
                 case_id="git-mini")
    assert sample.passed, sample.reasons


@pytest.mark.slow
def test_dvc_translation_without_push_and_with_the_data_in_git_fails(cases, cache_dir) -> None:
    source = DVC_SCRIPT.replace("PUSH", 'run("git", "add", "-f", "data.csv")\nrun("git", "commit", "-q", "-m", "raw")')
    sample = run(cases, cache_dir, "translate.gitpython-dvc", source, case_id="git-mini")
    assert_only_failed(sample, "dvc_in_remote", "raw_data_not_committed")


@pytest.mark.slow
def test_dvc_identity_fails(cases, cache_dir) -> None:
    sample = run(cases, cache_dir, "translate.gitpython-dvc", GIT_ORIGINAL, case_id="git-mini")
    assert not sample.passed
    assert not sample.checks["library_used"] and not sample.checks["dvc_tracked"] and not sample.checks["no_git_lfs"]
