"""Which libraries are indexed, which part of their API is "public surface", and which action targets which.

The surface is restricted on purpose (the build must stay fast): the modules a training script or
an MLOps adaptation actually touches, their public members, and the own methods of public classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@dataclass(frozen=True)
class LibrarySpec:
    """One indexed library. ``distribution`` gives the installed version (no import needed)."""

    name: str
    distribution: str
    roots: tuple[str, ...]
    targets: tuple[dict[str, Any], ...]
    cli: tuple[dict[str, Any], ...] = ()
    # Documentation files shipped in the distribution (paths relative to site-packages, globbed
    # through the distribution's RECORD). The package README (METADATA) is always included.
    doc_files: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # Rough extraction cost (seconds of one extraction on an idle core, measured 2026-11-22): the
    # build starts the costliest extractions first so the two workers finish together.
    extract_cost: float = 1.0

    def version(self) -> str | None:
        """Installed version, or None when the distribution is not installed."""
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return None


_LOG_EXCLUDE = [r"^(test|Test)"]

LIBRARIES: dict[str, LibrarySpec] = {
    "mlflow": LibrarySpec(
        name="mlflow",
        extract_cost=40,
        distribution="mlflow",
        roots=("mlflow",),
        description="MLflow tracking, models and model registry",
        targets=(
            {"module": "mlflow", "members": "__all__", "class_members": False,
             # GenAI, tracing, prompts and workspaces are outside what a training script needs.
             "exclude": [r"trace|span|Span|assessment|feedback|expectation|prompt|workspace|logged_model|session"
                         r"|issue|genai|gateway|deployments|evaluat|judge|scorer|active_model|external_model"
                         r"|system_metrics|doctor|login|^test$|^Image$|table|log_stream|log_image|log_figure"
                         r"|import_checkpoints|log_outputs|log_model_params|^context$|^run$|^projects$|^data$"
                         r"|async_logging"]},
            {"module": "mlflow.tracking", "members": ["MlflowClient"],
             "exclude_methods": [r"trace|span|prompt|assessment|logged_model|webhook|scorer|label|dataset|gateway"
                                 r"|secret|budget|_labeling|judge|evaluation|online|mcp|workspace|log_stream"
                                 r"|log_figure|log_image|log_table|load_table|log_outputs|log_inputs"]},
            {"module": "mlflow.pytorch", "members": ["log_model", "save_model", "load_model", "autolog",
                                                     "get_default_pip_requirements", "get_default_conda_env"]},
            {"module": "mlflow.sklearn", "members": ["log_model", "save_model", "load_model", "autolog"]},
            {"module": "mlflow.pyfunc", "members": ["load_model", "log_model", "save_model", "PythonModel",
                                                    "PyFuncModel", "get_model_dependencies"]},
            {"module": "mlflow.models", "members": ["infer_signature", "ModelSignature", "Model", "set_signature",
                                                    "validate_serving_input"],
             "methods": ["load", "log", "get_model_info", "save", "to_dict", "from_dict"]},
            {"module": "mlflow.entities", "members": ["Run", "RunInfo", "RunData", "Experiment", "Metric", "Param",
                                                      "RunStatus", "ViewType"], "module_doc": False},
            {"module": "mlflow.entities.model_registry", "members": ["ModelVersion", "RegisteredModel"],
             "module_doc": False},
            {"module": "mlflow.exceptions", "members": ["MlflowException"], "module_doc": False,
             "class_members": False},
        ),
        doc_files=("mlflow/ai_commands/*.md",),
    ),
    "wandb": LibrarySpec(
        name="wandb",
        extract_cost=1.5,
        distribution="wandb",
        roots=("wandb",),
        description="Weights & Biases experiment tracking",
        targets=(
            {"module": "wandb", "members": "__all__", "class_members": False,
             "exclude": [r"^(Api|Graph|Plotly|Video|Audio|Molecule|Object3D|box3d|EvalTable|JoinedTable|Classes"
                         r"|Histogram|Html|sweep|controller|agent|plot|visualize|plot_table)$"]},
            {"module": "wandb", "members": ["Settings", "Artifact"], "module_doc": False, "class_members": False},
            {"module": "wandb.sdk.wandb_run", "members": ["Run"], "module_doc": False,
             "exclude_methods": [r"^(plot_table|use_model|link_model|link_artifact|mark_preempting|alert"
                                 r"|display|to_html|upsert_artifact|finish_artifact|log_code|unwatch|restore|status)$"]},
            {"module": "wandb.sdk.wandb_settings", "members": ["Settings"], "class_members": False,
             "module_doc": False},
            {"module": "wandb.sdk.artifacts.artifact", "members": ["Artifact"], "module_doc": False,
             "methods": ["add_file", "add_dir", "add_reference", "add", "download", "get", "new_file",
                         "wait", "save", "delete", "files"]},
        ),
    ),
    "optuna": LibrarySpec(
        name="optuna",
        extract_cost=7,
        distribution="optuna",
        roots=("optuna",),
        description="Optuna hyperparameter optimisation",
        targets=(
            {"module": "optuna", "members": "__all__", "class_members": False},
            {"module": "optuna.study", "members": ["Study", "StudyDirection", "create_study", "load_study",
                                                   "delete_study", "get_all_study_summaries", "copy_study"]},
            {"module": "optuna.trial", "members": ["Trial"]},
            # FrozenTrial/FixedTrial repeat Trial's suggest_* API: keep only what is their own.
            {"module": "optuna.trial", "members": ["FrozenTrial", "TrialState", "FixedTrial", "create_trial"],
             "module_doc": False,
             "exclude_methods": [r"^(suggest_|report|should_prune|set_user_attr|set_constraint|constraints"
                                 r"|distributions|datetime_start|user_attrs|system_attrs)"]},
            {"module": "optuna.samplers", "members": ["TPESampler", "RandomSampler", "GridSampler",
                                                      "CmaEsSampler", "NSGAIISampler", "BaseSampler"],
             "class_members": False},
            {"module": "optuna.pruners", "members": "__all__", "class_members": False},
            {"module": "optuna.storages", "members": ["RDBStorage", "InMemoryStorage", "JournalStorage",
                                                      "get_storage"], "class_members": False},
            {"module": "optuna.logging", "members": ["set_verbosity", "get_verbosity",
                                                     "disable_default_handler"], "module_doc": False},
            {"module": "optuna.exceptions", "members": ["TrialPruned", "StorageInternalError",
                                                        "DuplicatedStudyError"], "class_members": False,
             "module_doc": False},
            {"module": "optuna.importance", "members": ["get_param_importances"], "module_doc": False},
        ),
    ),
    "nncf": LibrarySpec(
        name="nncf",
        extract_cost=11,
        distribution="nncf",
        roots=("nncf",),
        description="NNCF 3.x pruning (nncf.prune and its schedulers)",
        targets=(
            {"module": "nncf", "members": ["prune", "PruneMode", "pruning_statistic", "batch_norm_adaptation",
                                           "strip", "StripFormat", "IgnoredScope", "Dataset", "quantize",
                                           "compress_weights", "CompressWeightsMode", "QuantizationPreset",
                                           "ModelType", "TargetDevice", "Subgraph"]},
            {"module": "nncf.pruning.prune_model", "members": ["ModelPruningStatistic", "TensorPruningStatistic"],
             "module_doc": False},
            {"module": "nncf.torch", "members": ["wrap_model", "is_wrapped_model", "get_config",
                                                 "load_from_config", "disable_tracing", "strip"],
             "module_doc": False},
            # get_pruning_ratio is the schedulers' internal hook: only step/current_ratio are for users.
            {"module": "nncf.torch.function_hook.pruning.magnitude.schedulers",
             "members": ["MultiStepMagnitudePruningScheduler", "ExponentialMagnitudePruningScheduler"],
             "inherited": True, "methods": ["step", "current_ratio"]},
            {"module": "nncf.torch.function_hook.pruning.rb.schedulers",
             "members": ["MultiStepRBPruningScheduler", "ExponentialRBPruningScheduler"], "inherited": True,
             "methods": ["step", "current_ratio"]},
            {"module": "nncf.torch.function_hook.pruning.rb.losses", "members": ["RBLoss"]},
        ),
        env={"KERAS_BACKEND": "torch"},
    ),
    "dvc": LibrarySpec(
        name="dvc",
        extract_cost=2,
        distribution="dvc",
        roots=("dvc",),
        description="DVC 3 data versioning: Python API, Repo API and the CLI",
        targets=(
            {"module": "dvc.api", "members": "__all__", "class_members": False},
            {"module": "dvc.repo", "members": ["Repo"],
             "methods": ["init", "add", "commit", "push", "pull", "fetch", "status", "checkout", "remove", "move",
                         "gc", "imp", "imp_url", "get", "get_url", "ls", "data_status", "find_root", "close",
                         "reproduce", "diff", "update", "config", "open", "unprotect"],
             "inherited": True, "module_doc": False},
            {"module": "dvc.config", "members": ["Config"],
             "methods": ["edit", "load", "get_dir", "read", "validate"], "module_doc": False},
        ),
        cli=(
            {"factory": "dvc.cli.parser:get_main_parser", "program": "dvc",
             "commands": ["init", "add", "commit", "push", "pull", "fetch", "status", "checkout", "gc", "remove",
                          "move", "config", "get", "import", "import-url", "install",
                          "remote add", "remote default", "remote modify", "remote list", "remote remove",
                          "cache dir", "data status", "diff", "repro", "stage add"]},
        ),
    ),
    "gitpython": LibrarySpec(
        name="gitpython",
        extract_cost=0.5,
        distribution="GitPython",
        roots=("git",),
        description="GitPython (module git): repositories, index, commits, remotes, git command wrapper",
        targets=(
            {"module": "git", "members": ["Repo", "Remote", "IndexFile", "Git", "Actor", "Commit", "Head",
                                          "Reference", "TagReference", "PushInfo", "FetchInfo", "Blob", "Tree",
                                          "GitCommandError", "InvalidGitRepositoryError", "NoSuchPathError"],
             "exclude_methods": [r"^(iter_items|list_items|blame_incremental|re_|unsafe_)"]},
        ),
    ),
    "lightning": LibrarySpec(
        name="lightning",
        extract_cost=25,
        distribution="lightning",
        roots=("lightning",),
        description="PyTorch Lightning loggers, callbacks, Trainer and LightningModule logging",
        targets=(
            {"module": "lightning.pytorch.loggers", "members": "__all__", "exclude": [r"^(LitLogger|CometLogger)$"],
             "exclude_methods": [r"^(state_dict|load_state_dict|after_save_checkpoint)$"]},
            {"module": "lightning.pytorch.callbacks", "members": ["Callback", "ModelCheckpoint", "EarlyStopping",
                                                                  "LearningRateMonitor", "ModelPruning",
                                                                  "LambdaCallback", "Timer", "ModelSummary"],
             "exclude_methods": [r"^(state_dict|load_state_dict|setup|teardown)$"]},
            {"module": "lightning.pytorch", "members": ["Trainer", "LightningModule", "seed_everything"],
             "methods": ["fit", "validate", "test", "predict", "save_checkpoint", "log", "log_dict",
                         "save_hyperparameters", "configure_optimizers", "training_step", "validation_step",
                         "logger", "loggers", "callback_metrics", "logged_metrics", "current_epoch"],
             "module_doc": False},
        ),
    ),
    "keras": LibrarySpec(
        name="keras",
        extract_cost=14,
        distribution="keras",
        roots=("keras",),
        description="Keras 3 callbacks and Model.fit",
        targets=(
            {"module": "keras.callbacks", "members": "__all__",
             "exclude": [r"^(OrbaxCheckpoint|BackupAndRestore|SwapEMAWeights|RemoteMonitor|CallbackList)$"]},
            {"module": "keras", "members": ["Model", "Sequential"],
             "methods": ["fit", "compile", "evaluate", "predict", "save", "save_weights", "summary"],
             "inherited": True, "module_doc": False},
        ),
        env={"KERAS_BACKEND": "torch"},
    ),
    "torch-prune": LibrarySpec(
        name="torch-prune",
        extract_cost=5,
        distribution="torch",
        roots=("torch",),
        description="torch.nn.utils.prune (magnitude / random / structured pruning with masks)",
        targets=(
            {"module": "torch.nn.utils.prune", "members": "public",
             "exclude": [r"^(numbers|ABC|abstractmethod|Iterable|torch)$"]},
        ),
    ),
}

# Which library an action writes code for; for translations also the library it translates from.
ACTION_TARGETS: dict[str, str] = {
    "tracking.mlflow": "mlflow",
    "tracking.wandb": "wandb",
    "registry.mlflow": "mlflow",
    "hpo.optuna": "optuna",
    "pruning.nncf": "nncf",
    "pruning.torch": "torch-prune",
    "translate.gitpython-dvc": "dvc",
}
ACTION_SOURCES: dict[str, str] = {
    "translate.gitpython-dvc": "gitpython",
}
# The training framework of a script, as named in case.toml, to the library whose store holds its API.
FRAMEWORK_LIBRARIES: dict[str, str] = {
    "lightning": "lightning",
    "keras": "keras",
    "gitpython": "gitpython",
}


def get_library(name: str) -> LibrarySpec:
    """The spec for ``name``; raises ``KeyError`` with the known names."""
    try:
        return LIBRARIES[name]
    except KeyError:
        raise KeyError(f"unknown library {name!r}; known: {', '.join(sorted(LIBRARIES))}") from None
