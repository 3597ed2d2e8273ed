"""The structural checks of training order: pruning runs during training (seen from
Qwen2.5-Coder-1.5B: the prune call placed after the epoch loop, so the pruned model never trains),
and an iterative trainer's metrics are logged every epoch, not once after training."""

from pathlib import Path

from mlops_lsp.actions import registry
from mlops_lsp.bench.dataset import load_case
from mlops_lsp.engines.llm import ITERATIVE_FRAMEWORKS
from mlops_lsp.training_order import logs_only_once, runs_after_training

PRUNE = registry()["pruning.torch"].during_training[0]
NNCF = registry()["pruning.nncf"].during_training[0]

LOOP = """\
for epoch in range(epochs):
    optimizer.zero_grad()
    loss_fn(model(x), y).backward()
    optimizer.step()
"""
PRUNE_ALL = """\
for layer in model.modules():
    prune.l1_unstructured(layer, name="weight", amount=0.5)
"""


def test_prune_after_the_loop_runs_after_training() -> None:
    assert runs_after_training(LOOP + PRUNE_ALL, PRUNE)


def test_prune_inside_the_loop_after_the_step_is_during_training() -> None:
    inside = LOOP + "    if epoch == epochs // 2:\n" + "".join(f"        {line}\n" for line in PRUNE_ALL.splitlines())
    assert not runs_after_training(inside, PRUNE)


def test_prune_in_a_nested_loop_of_the_training_loop_is_during_training() -> None:
    code = "for epoch in range(3):\n    for xb in batches:\n        opt.step()\n    for m in layers:\n        prune.l1_unstructured(m, 'weight', 0.2)\n"
    assert not runs_after_training(code, PRUNE)


def test_nncf_before_the_loop_is_during_training_and_after_it_is_not() -> None:
    call = "model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=x)\n"
    assert not runs_after_training(call + LOOP, NNCF)
    assert runs_after_training(LOOP + call, NNCF)


def test_fully_qualified_calls_match_and_other_calls_do_not() -> None:
    assert runs_after_training(LOOP + "torch.nn.utils.prune.l1_unstructured(layer, 'weight', 0.5)\n", PRUNE)
    assert not runs_after_training(LOOP + "prune.remove(layer, 'weight')\n", PRUNE)


def test_without_a_training_step_or_unparsable_code_nothing_is_claimed() -> None:
    assert not runs_after_training(PRUNE_ALL, PRUNE)
    assert not runs_after_training(LOOP + PRUNE_ALL + "def broken(:\n", PRUNE)


# ---- metrics logged once after an iterative trainer (seen from Qwen2.5-Coder-1.5B on Keras scripts:
# `model.fit(...)` then one `mlflow.log_metric("loss", history.history["loss"][-1])`; the run has no curve).

MLFLOW_METRIC = registry()["tracking.mlflow"].per_epoch[0]
WANDB_LOG = registry()["tracking.wandb"].per_epoch[0]

FIT = "history = model.fit(x, y, epochs=4, verbose=0)\n"


def test_keras_metric_logged_once_after_fit_is_reported() -> None:
    assert logs_only_once(FIT + 'mlflow.log_metric("loss", history.history["loss"][-1])\n', MLFLOW_METRIC)
    assert logs_only_once("with mlflow.start_run():\n    " + FIT + '    mlflow.log_metrics({"mae": 0.1})\n',
                          MLFLOW_METRIC)
    assert logs_only_once(FIT + 'run.log({"loss": history.history["loss"][-1]})\n', WANDB_LOG)


def test_metrics_logged_from_the_history_every_epoch_are_not() -> None:
    code = FIT + 'for epoch, value in enumerate(history.history["loss"]):\n    mlflow.log_metric("loss", value, step=epoch)\n'
    assert not logs_only_once(code, MLFLOW_METRIC)


def test_metrics_logged_in_the_epoch_loop_are_not_and_after_it_are() -> None:
    inside = LOOP + '    wandb.log({"loss": 1.0}, step=epoch)\n'
    assert not logs_only_once(inside, WANDB_LOG)
    assert logs_only_once(LOOP + 'wandb.log({"loss": 1.0})\n', WANDB_LOG)


def test_callbacks_autolog_and_helpers_are_given_the_benefit_of_the_doubt() -> None:
    assert not logs_only_once("model.fit(x, y, callbacks=[WandbMetricsLogger()])\nrun.log({'mae': 1})\n", WANDB_LOG)
    assert not logs_only_once("mlflow.keras.autolog()\n" + FIT + "mlflow.log_metric('mae', 1)\n", MLFLOW_METRIC)
    helper = "def log_epoch(epoch, loss):\n    mlflow.log_metric('loss', loss, step=epoch)\n"
    assert not logs_only_once(helper + LOOP + "    log_epoch(epoch, 1.0)\n", MLFLOW_METRIC)
    assert logs_only_once(helper + LOOP + "log_epoch(0, 1.0)\n", MLFLOW_METRIC)  # called once, after the loop
    method = "class Logger:\n    def on_epoch_end(self, epoch, logs):\n        mlflow.log_metric('loss', 1.0)\n"
    assert not logs_only_once(method + FIT, MLFLOW_METRIC)
    assert not logs_only_once(FIT + "print(np.log(2.0))\n", WANDB_LOG)  # not a logger


def test_autolog_set_up_after_training_in_the_same_function_is_not_a_logger() -> None:
    # Seen from Qwen2.5-Coder-1.5B on keras-regression: `mlflow.autolog()` after `model.fit(...)`.
    late = FIT + "mlflow.autolog()\nmlflow.log_metric('mae', 1)\n"
    assert logs_only_once(late, MLFLOW_METRIC)
    in_main = ("def train():\n    " + FIT + "    return history\n"
               "def main():\n    mlflow.autolog()\n    train()\n    mlflow.log_metric('mae', 1)\n")
    assert not logs_only_once(in_main, MLFLOW_METRIC)  # other function: line order says nothing


def test_no_gold_adaptation_of_an_iterative_case_is_reported() -> None:
    # The check goes back to the model as a problem: the gold answers must never trigger it.
    dataset = Path(__file__).resolve().parents[2] / "dataset"
    checked = 0
    for gold in sorted(dataset.glob("*/gold/tracking.*.py")):
        case = load_case(gold.parent.parent)
        if case.framework not in ITERATIVE_FRAMEWORKS:
            continue
        pattern = registry()[gold.stem].per_epoch[0]
        assert not logs_only_once(gold.read_text(encoding="utf-8"), pattern), gold
        checked += 1
    assert checked >= 30


def test_a_recursive_logger_is_not_followed_forever() -> None:
    code = "def log(n):\n    mlflow.log_metric('loss', 1.0)\n    log(n - 1)\n" + FIT + "log(3)\n"
    assert not logs_only_once(code, MLFLOW_METRIC)
