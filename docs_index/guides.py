"""Short task guides, one per action id: how to do the task with the installed API, and the pitfalls.

Written by hand against the installed versions (MLflow 3.17, wandb 0.31, Optuna 5.0, NNCF 3.4,
DVC 3.67, GitPython 3.2, torch 2.13). Each guide is indexed as a chunk of its target library's
table (so searches find it) and is put first in the `docprompt` context.
"""

from __future__ import annotations

GUIDES: dict[str, str] = {
    "tracking.mlflow": """\
# Task guide: add MLflow experiment tracking (MLflow 3)

How:
- `import mlflow`; point MLflow at a store first: `mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))`.
- `mlflow.set_experiment("name")`, then wrap training in `with mlflow.start_run():` (the run ends FINISHED when the block exits normally).
- Hyperparameters: `mlflow.log_params({"lr": lr, "epochs": epochs})` or `mlflow.log_param(key, value)`.
- Metrics: `mlflow.log_metric("loss", value, step=epoch)` inside the loop (a step per epoch/iteration), or `mlflow.log_metrics(dict, step=...)`.
- Lightning: `lightning.pytorch.loggers.MLFlowLogger(experiment_name=..., tracking_uri=...)` passed to `Trainer(logger=...)`; `self.log("train_loss", loss)` in the LightningModule.
- Keras: a `keras.callbacks.Callback` subclass whose `on_epoch_end(self, epoch, logs)` calls `mlflow.log_metrics(logs, step=epoch)`.
- scikit-learn: log params from `model.get_params()` and the score after `fit`; `mlflow.sklearn.autolog()` also works.

Pitfalls:
- MLflow 3 refuses a plain file store (`./mlruns`) unless `MLFLOW_ALLOW_FILE_STORE=true`; its default store is SQLite (`sqlite:///mlflow.db`). Keep `MLFLOW_TRACKING_URI` from the environment when it is set.
- `MLFlowLogger` defaults to `file:./mlruns` when no `tracking_uri` is given and `MLFLOW_TRACKING_URI` is unset.
- Metric values must be numbers (call `.item()` on tensors); `step` must be an int.
- Keep the script's own prints and output files; do not replace the training loop.
""",
    "registry.mlflow": """\
# Task guide: register the trained model in the MLflow Model Registry (MLflow 3)

How:
- Tracking store must be a database (registry needs it): `mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))`.
- Inside `with mlflow.start_run():` after training, log and register in one call:
  `mlflow.pytorch.log_model(model, name="model", registered_model_name="my-model", input_example=x_np)`
  (`mlflow.sklearn.log_model(sk_model, name=..., registered_model_name=...)` for scikit-learn; Keras 3 models: wrap in an `mlflow.pyfunc.PythonModel` or use `mlflow.pyfunc.log_model(name=..., python_model=..., registered_model_name=...)`).
- Or register afterwards: `info = mlflow.pytorch.log_model(model, name="model")`; `mlflow.register_model(info.model_uri, "my-model")`.
- A version becomes READY; load it back with `mlflow.pyfunc.load_model("models:/my-model/1")` (or `models:/my-model@alias` after `MlflowClient().set_registered_model_alias(name, "champion", version)`).

Pitfalls:
- MLflow 3: `log_model(..., name="model")`; `artifact_path=` is deprecated. `registered_model_name=` registers the version.
- Stages (`transition_model_version_stage`) are deprecated: use aliases.
- The file store cannot hold a registry; use SQLite. Do not register with `runs:/...` URIs of a run that has not logged the model.
- Give an `input_example` (numpy array) or a signature (`mlflow.models.infer_signature(x, y)`) so pyfunc can load and serve it.
""",
    "tracking.wandb": """\
# Task guide: add Weights & Biases tracking (wandb 0.31, offline)

How:
- `import wandb`; `run = wandb.init(project="name", config={"lr": lr, "epochs": epochs}, mode=os.environ.get("WANDB_MODE", "offline"))`.
- Log each epoch/step: `run.log({"loss": loss, "epoch": epoch})` (optionally `step=`); at the end `run.finish()` (or use `with wandb.init(...) as run:`).
- Config can be extended later: `run.config.update({...})`.
- Lightning: `lightning.pytorch.loggers.WandbLogger(project=..., offline=True)` passed to `Trainer(logger=...)`.
- Keras: a `keras.callbacks.Callback` subclass whose `on_epoch_end(self, epoch, logs)` calls `run.log(dict(logs), step=epoch)`.

Pitfalls:
- No network: use `mode="offline"` (or `WANDB_MODE=offline`); never call `wandb.login()`. Offline runs are written under `WANDB_DIR` (`./wandb` by default) as `.wandb` files.
- `wandb.integration.keras.WandbMetricsLogger` imports TensorFlow; with the torch Keras backend write a small callback instead.
- Log plain numbers (`float(loss)` or `loss.item()`), not tensors; keep a monotonically increasing `step`.
- Call `run.finish()` so the run is flushed and exits cleanly.
""",
    "hpo.optuna": """\
# Task guide: add Optuna hyperparameter optimisation (Optuna 5)

How:
- Move training into `def objective(trial):` that samples hyperparameters of the original script and returns the validation metric:
  `lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)`, `n = trial.suggest_int("hidden", 16, 128)`, `opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])`.
- `study = optuna.create_study(direction="minimize", study_name="name", storage=os.environ.get("OPTUNA_STORAGE"))` (keyword arguments only), then `study.optimize(objective, n_trials=5)`.
- Use the result: `study.best_params`, `study.best_value`, `study.best_trial`; retrain once with the best parameters so the original outputs still appear.
- Pruning of bad trials: `trial.report(value, step)` then `if trial.should_prune(): raise optuna.TrialPruned()`; pruners in `optuna.pruners` (e.g. `MedianPruner`).
- Storage: `storage="sqlite:///optuna.db"` or `optuna.storages.RDBStorage(url)`; `load_if_exists=True` to reuse a study.

Pitfalls:
- Optuna 5: `create_study` takes keyword arguments only; `suggest_uniform` / `suggest_loguniform` / `suggest_discrete_uniform` are deprecated: use `suggest_float(name, low, high, log=..., step=...)`.
- Integrations (`optuna.integration.*`) live in the separate package optuna-integration; do not rely on them.
- Keep n_trials small (the script must still finish in its time limit); keep at least 2 completed trials.
- The objective must return a float (not a tensor); seed inside the objective for reproducibility.
""",
    "pruning.nncf": """\
# Task guide: add during-training pruning with NNCF 3.x

How (torch):
- `import nncf`; after building the model and before creating the optimizer:
  `model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.1, examples_inputs=example_batch)`.
- Schedule the sparsity during training: `from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler`;
  `scheduler = MultiStepMagnitudePruningScheduler(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, steps={0: 0.1, 1: 0.3, 2: 0.5})`;
  call `scheduler.step()` at the start of each epoch (epoch 0 first). `ExponentialMagnitudePruningScheduler(model, mode=..., initial_ratio=0.1, target_ratio=0.5, target_epoch=3)` also exists.
- Check the result: `nncf.pruning_statistic(model)` (`.pruning_ratio` on pruned layers).
- Modes: `UNSTRUCTURED_MAGNITUDE_LOCAL` (per tensor), `UNSTRUCTURED_MAGNITUDE_GLOBAL` (one threshold), `UNSTRUCTURED_REGULARIZATION_BASED` (needs `RBLoss` added to the loss and RB schedulers).

Pitfalls:
- NNCF 3 removed `create_compressed_model`, `NNCFConfig`, `compression_ctrl` and `register_default_init_args`: use `nncf.prune`.
- `examples_inputs` is required for torch (a tuple is unpacked as positional args); `ratio` is required for magnitude modes.
- A bare `nn.Sequential` fails (NNCF adds a hook-storage submodule): wrap it in an `nn.Module` subclass.
- Masks are applied in forward; raw weights are not zeroed. `nncf.strip(...)` needs torchao (not installed): keep the masks.
- LSTM/GRU weights are not pruned; Linear, Conv and Embedding are. The final sparsity target should be >= 0.3.
""",
    "pruning.torch": """\
# Task guide: add during-training pruning with torch.nn.utils.prune

How:
- `import torch.nn.utils.prune as prune`.
- Pick the layers: `params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]`.
- During training (e.g. at the start of some epochs) prune more: `prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.2)`
  or per layer `prune.l1_unstructured(module, name="weight", amount=0.3)`; structured: `prune.ln_structured(module, "weight", amount=0.3, n=2, dim=0)`.
- Repeated calls compose (the amount applies to the remaining weights), so the sparsity grows over epochs.
- Inspect: `prune.is_pruned(module)`; masks live in `module.weight_mask`, original weights in `module.weight_orig`.
- To make it permanent at the end: `prune.remove(module, "weight")` (bakes the zeros into `weight`).

Pitfalls:
- Create/keep the optimizer over `model.parameters()` after pruning: pruning renames `weight` to `weight_orig` (a new Parameter is not created, but code holding `module.weight` tensors must re-read them).
- `amount` is a fraction in [0, 1] or an int count; target a final sparsity >= 0.3 on the pruned layers.
- Pruning after training is not during-training pruning: apply it before or between epochs and keep training.
- Saving: `state_dict()` contains `weight_orig`/`weight_mask` until `prune.remove` is called.
""",
    "translate.gitpython-dvc": """\
# Task guide: translate GitPython (+ git-lfs) data versioning to DVC 3

How:
- Keep git for code (GitPython or `git` CLI), move the data file to DVC:
  `from dvc.repo import Repo as DvcRepo`; `dvc_repo = DvcRepo.init(root_dir=path)` (inside an existing git repo; `no_scm=True` only without git), or `DvcRepo(path)` when `.dvc/` exists.
- Configure a remote: `with dvc_repo.config.edit() as conf: conf["remote"]["storage"] = {"url": remote_dir}; conf["core"]["remote"] = "storage"`
  (CLI equivalent: `dvc remote add -d storage /path/to/remote`).
- Track the data: `dvc_repo.add("data.csv")` writes `data.csv.dvc` (with the md5) and adds `data.csv` to `.gitignore`.
- Commit the metadata with git: `git_repo.index.add(["data.csv.dvc", ".gitignore", ".dvc/config"])`; `git_repo.index.commit("Track data with DVC")`.
- Upload the data: `dvc_repo.push()` (to the default remote); download elsewhere with `dvc_repo.pull()`; read a tracked file with `dvc.api.open("data.csv", repo=path)` / `dvc.api.read(...)`.

Pitfalls:
- Do not `git add` the raw data file any more (DVC git-ignores it); remove git-lfs use (`repo.git.lfs("track", ...)`, `.gitattributes` filter lines).
- `Repo.init` fails if `.dvc` exists (use `force=True` or open it); it needs a git repo unless `no_scm=True`.
- `push()` without a default remote raises; set `core.remote` or pass `remote="name"`.
- Disable analytics in sandboxes: `DVC_NO_ANALYTICS=1` or `dvc config core.analytics false`.
- Close the repo (`dvc_repo.close()`) in long-running programs.
""",
}


def guide_for(action: str) -> str:
    """The task guide for ``action``; raises ``KeyError`` naming the known actions."""
    try:
        return GUIDES[action]
    except KeyError:
        raise KeyError(f"no task guide for action {action!r}; known: {', '.join(sorted(GUIDES))}") from None
