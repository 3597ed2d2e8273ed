"""Prompts for the model engine, in the study's manner: a system role, the task, the constraints,
the retrieved documentation (DocPrompting; absent for zero-shot), the code, and the answer format.

Kept short: the reference local model is 1.5B parameters with an 8k context.
"""

from __future__ import annotations

import importlib.metadata
import re
from functools import cache
from typing import Literal

from .actions import Action, Example

EditFormat = Literal["region", "search-replace", "whole", "hunks"]

SYSTEM = ("You are an expert Python MLOps engineer. You adapt machine-learning training scripts to MLOps "
          "libraries, writing complete, runnable code for the library versions that are installed.")

# Current API of the installed versions, one line per target library: what small models get wrong.
_API_NOTES = {
    "mlflow": "MLflow {v}: `import mlflow`; `mlflow.set_tracking_uri(os.environ.get(\"MLFLOW_TRACKING_URI\", \"sqlite:///mlflow.db\"))`; "
              "`with mlflow.start_run():`; `mlflow.log_params({{\"lr\": lr, \"epochs\": epochs}})` with the script's own values, `mlflow.log_metric(key, value, step=...)`; "
              "models: `mlflow.<flavour>.log_model(model, name=..., registered_model_name=...)` "
              "(not `artifact_path`); registering needs `registered_model_name`.",
    "wandb": "wandb {v}, offline: `run = wandb.init(project=..., config={{...}}, mode=os.environ.get(\"WANDB_MODE\", \"offline\"))`; "
             "`run.log({{...}}, step=...)` with plain numbers; `run.finish()` at the end; never `wandb.login()`.",
    "optuna": "Optuna {v}: `def objective(trial):` with `trial.suggest_float/suggest_int/suggest_categorical`, returns the metric; "
              "`optuna.create_study(direction=..., storage=os.environ.get(\"OPTUNA_STORAGE\"))` (keywords only); "
              "`study.optimize(objective, n_trials=5)`; then train once more with `study.best_params`, whose keys are the names given to `trial.suggest_*`.",
    "nncf": "NNCF {v}: `create_compressed_model`/`NNCFConfig` no longer exist; use "
            "`model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=example_batch)` "
            "before creating the optimizer; a bare `nn.Sequential` model must become a `SequentialForNncf` as in the example.",
    "torch": "torch {v}: `import torch.nn.utils.prune as prune`; inside the epoch loop, at `epoch == epochs // 2`, "
             "`prune.l1_unstructured(layer, name=\"weight\", amount=0.5)` for every Linear/Conv layer, so the last "
             "epochs train the pruned model; after the loop `prune.remove(layer, \"weight\")`.",
    "dvc": "DVC {v}: `from dvc.repo import Repo as DvcRepo`; `dvc_repo = DvcRepo.init(repo.working_tree_dir)` once; "
           "a function that did not create it opens it with `dvc_repo = DvcRepo(repo.working_tree_dir)`; remote via "
           "`with dvc_repo.config.edit() as conf:`; `dvc_repo.add(file)`; commit the `.dvc` file with git; `dvc_repo.push()`; no git-lfs.",
}
# What differs by framework: the model flavour (MLflow 3 breaks Keras' input_example, mlflow/mlflow#16183).
_FRAMEWORK_NOTES = {
    # No input_example here: a variable named in a note is copied literally (`inputs`, undefined in the script).
    ("mlflow", "pytorch"): "A PyTorch model is logged with `mlflow.pytorch.log_model(model, name=..., "
                           "registered_model_name=...)`, never with `mlflow.sklearn`.",
    ("mlflow", "sklearn"): "A scikit-learn model is logged with `mlflow.sklearn.log_model(sk_model=model, name=\"model\", "
                           "serialization_format=\"cloudpickle\", input_example=X_train[:5], registered_model_name=...)`: "
                           "MLflow 3's default format (skops) refuses to load a tree or a pipeline back.",
    ("mlflow", "lightning"): "A LightningModule is logged with `mlflow.pytorch.log_model(model, name=..., registered_model_name=...)`.",
    ("mlflow", "keras"): "A Keras model is logged with `mlflow.keras.log_model(model, name=..., signature=infer_signature("
                         "x[:5], model.predict(x[:5], verbose=0)), registered_model_name=...)` "
                         "(`from mlflow.models import infer_signature`); no `input_example`, it fails with Keras. "
                         "Metrics per epoch from `history = model.fit(...)`: `for epoch, value in enumerate("
                         "history.history[\"loss\"]): mlflow.log_metric(\"loss\", value, step=epoch)`.",
    ("wandb", "keras"): "Metrics per epoch from `history = model.fit(...)`: `for epoch, value in enumerate("
                        "history.history[\"loss\"]): run.log({\"loss\": value}, step=epoch)`.",
}
_DISTRIBUTIONS = {"torch": "torch", "dvc": "dvc", "nncf": "nncf", "mlflow": "mlflow", "wandb": "wandb", "optuna": "optuna"}


@cache
def _version(library: str) -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(library, library))
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def constraints(action: Action, framework: str | None = None) -> str:
    note = _API_NOTES.get(action.library, "").format(v=_version(action.library))
    note = f"{note} {_FRAMEWORK_NOTES.get((action.library, framework), '')}".strip()
    lines = [
        "- Keep the script's behaviour: same training, same printed output, same files written.",
        f"- Use the current API of the installed version. {note}".rstrip(),
        "- Keep every statement of the code you rewrite (the variables it defines included): add to it, do not drop lines.",
        "- Write real code only: no placeholders, no `...`, no comments like 'rest of the code'.",
        "- Do not add command-line arguments or configuration files.",
    ]
    return "\n".join(lines)


EXAMPLE_MAX_LINES = 80  # longer codemod examples are mostly helpers a small model cannot reproduce


def example(action: Action, framework: str | None) -> Example | None:
    """The one-shot example: the shortest example of a codemod for this action and framework, else
    the action's own (the pruning and DVC codemods' examples are mostly their helpers)."""
    from .codemods import codemods_for

    candidates = [e for c in codemods_for(action.id, framework) for e in c.EXAMPLES
                  if len(e.after.splitlines()) <= EXAMPLE_MAX_LINES]
    return min(candidates, key=lambda e: len(e.after), default=action.example)


def _answer_format(edit_format: EditFormat, region_lines: str | None) -> str:
    if edit_format == "region":
        return (f"Answer with the rewritten part ({region_lines}) only, complete and changed to do the task, in one "
                "```python block. Put the imports you need at the top of that block.")
    if edit_format == "search-replace":
        return ("Return the changes as SEARCH/REPLACE blocks, each:\n"
                "<<<<<<< SEARCH\n(exact lines of the current file)\n=======\n(new lines)\n>>>>>>> REPLACE\n"
                "SEARCH text must match the file exactly and be unique; include the import lines you add as a block too.")
    return "Return the complete adapted file in one ```python block."


def _request(action: Action, source: str, *, edit_format: EditFormat, region_code: str | None, framework: str | None,
             region_lines: str | None, docs: str) -> str:
    parts = [f"Task: {action.task}", f"Constraints:\n{constraints(action, framework)}"]
    if docs.strip():
        parts.append(f"Documentation of the installed {action.library}:\n{docs.strip()}")
    if edit_format == "region" and region_code is not None:
        # Small models answer with the LAST code block they were shown: the whole script comes first,
        # for context, and the region to rewrite comes last, right before the instruction.
        parts.append(f"The whole script, for context (do not return it):\n```python\n{source.rstrip()}\n```")
        parts.append(f"Rewrite this part of the script ({region_lines}), which holds the training code:\n"
                     f"```python\n{region_code.rstrip()}\n```")
    else:
        parts.append(f"The script:\n```python\n{source.rstrip()}\n```")
    # The task again, last: a small model that reads it only at the top returns the code unchanged.
    parts.append(f"{_answer_format(edit_format, region_lines)} The task: {action.task}")
    return "\n\n".join(parts)


def build(action: Action, source: str, *, edit_format: EditFormat, region_code: str | None = None,
          region_lines: str | None = None, docs: str = "", shown: Example | None = None,
          framework: str | None = None) -> list[dict[str, str]]:
    """The chat messages for one adaptation request. In the region format the model sees the whole
    script and is asked to rewrite only the region. ``shown``, a worked example of the task, comes
    first as an earlier exchange (a one-shot chat: small models follow a shown answer better than
    a described one)."""
    messages = [{"role": "system", "content": SYSTEM}]
    if shown is not None:
        example_request = _request(action, shown.before, edit_format="whole", region_code=None, region_lines=None,
                                   docs="", framework=framework)
        messages += [{"role": "user", "content": example_request},
                     {"role": "assistant", "content": f"```python\n{shown.after.rstrip()}\n```"}]
    messages.append({"role": "user", "content": _request(action, source, edit_format=edit_format,
                                                         region_code=region_code, region_lines=region_lines,
                                                         docs=docs, framework=framework)})
    return messages


def _hunk_guide(action: Action, shown: Example, code: str) -> str:
    """The example's hunks and what each became, the one most like ``code`` last: a small model
    copies the pattern it read last."""
    import difflib

    import libcst as cst

    from . import hunks

    assert action.rewrites is not None
    found = hunks.find(cst.parse_module(shown.before), re.compile(action.rewrites[0]))
    def likeness(pair: tuple[hunks.Hunk, str]) -> float:  # of the code, comments aside
        return difflib.SequenceMatcher(None, hunks.code_without_comments(pair[0].code).strip(),
                                       hunks.code_without_comments(code).strip()).ratio()

    pairs = sorted(zip(found, shown.hunks), key=likeness)
    shown_pairs = [f"```python\n{hunk.code.rstrip()}\n```\nbecame\n```python\n{new.rstrip()}\n```" for hunk, new in pairs]
    return f"How the lines of an example script that {action.rewrites[1]} were rewritten:\n\n" + "\n\n".join(shown_pairs)


def hunk_request(action: Action, source: str, code: str, where: str, *, docs: str = "", shown: Example | None = None,
                 framework: str | None = None) -> list[dict[str, str]]:
    """The chat messages asking for the replacement of one hunk (``code``, ``where`` in ``source``):
    the script, the worked example's hunks (the nearest last), then the lines to rewrite, right
    before the instruction."""
    assert action.rewrites is not None
    parts = [f"Task: {action.task}", f"Constraints:\n{constraints(action, framework)}"]
    if docs.strip():
        parts.append(f"Documentation of the installed {action.library}:\n{docs.strip()}")
    parts.append(f"The script:\n```python\n{source.rstrip()}\n```")
    if shown is not None and shown.hunks:
        parts.append(_hunk_guide(action, shown, code))
    parts.append(f"Rewrite {where}, which {action.rewrites[1]}:\n```python\n{code.rstrip()}\n```")
    parts.append("Answer with the code that replaces these lines, and only these lines, in one ```python block. "
                 "Keep the names the rest of the script uses.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


GUIDE_MAX_LINES = 40  # a longer worked example of the training lines is mostly helpers (Lightning callbacks)


def training_guide(action: Action, shown: Example | None) -> tuple[str, str, str] | None:
    """The worked example's script, its training lines and what they became, or None when the
    example has no training lines or they became more than :data:`GUIDE_MAX_LINES` lines."""
    import libcst as cst

    from . import hunks

    if shown is None:
        return None
    before = cst.parse_module(shown.before)
    hunk = hunks.training(before, action.id)
    became = hunks.replacement_in(before, shown.after, hunk) if hunk is not None else None
    if hunk is None or became is None or len(became.splitlines()) > GUIDE_MAX_LINES:
        return None
    if _helpers_used(became, shown):
        return None  # `callbacks=[WandbEpochLogger()]`, a class the example adds elsewhere: copied, it is undefined
    return shown.before, hunk.code, became


def _helpers_used(code: str, shown: Example) -> set[str]:
    """The names ``code`` reads that the example's adaptation defines at top level (not imports)."""
    import ast

    def defined(source: str) -> set[str]:
        return {n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}

    read = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    return read & (defined(shown.after) - defined(shown.before))


def _training_request(action: Action, source: str, code: str, where: str, docs: str, framework: str | None) -> str:
    parts = [f"Task: {action.task}", f"Constraints:\n{constraints(action, framework)}"]
    if docs.strip():
        parts.append(f"Documentation of the installed {action.library}:\n{docs.strip()}")
    parts.append(f"The script, for context (do not return it):\n```python\n{source.rstrip()}\n```")
    parts.append(f"Rewrite {where}, which train the model and compute its results:\n```python\n{code.rstrip()}\n```")
    parts.append("Answer with the code that replaces these lines, and only these lines, in one ```python block: "
                 "copy each of them as it is, loops and all, and add what the task needs; the rest of the script "
                 f"stays as it is. The task: {action.task}")
    return "\n\n".join(parts)


def training_request(action: Action, source: str, code: str, where: str, guide: tuple[str, str, str], *,
                     docs: str = "", framework: str | None = None) -> list[dict[str, str]]:
    """The chat messages asking for the replacement of the training lines (``code``, ``where`` in
    ``source``) only. The worked example comes first as an earlier exchange whose answer is its
    training lines rewritten, nothing else: shown a whole script, a small model answers with a
    whole script unless it has seen an answer that is not one."""
    example_script, example_code, example_became = guide
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": _training_request(action, example_script, example_code, "these lines", "",
                                                          framework)},
            {"role": "assistant", "content": f"```python\n{example_became.rstrip()}\n```"},
            {"role": "user", "content": _training_request(action, source, code, where, docs, framework)}]


def repair(messages: list[dict[str, str]], answer: str, problems: list[str], edit_format: EditFormat,
           region_lines: str | None) -> list[dict[str, str]]:
    """The conversation for a repair round: the first request (with its example), the last answer,
    and what was wrong. Only the last attempt is kept: the context is small."""
    listed = "\n".join(f"- {p}" for p in problems[:6])
    again = {"region": f"Return the corrected region ({region_lines}) again, complete, in one ```python block.",
             "search-replace": "Return corrected SEARCH/REPLACE blocks for the ORIGINAL file.",
             "hunks": "Return the corrected replacement of these lines again, only them, in one ```python block.",
             "whole": "Return the corrected complete file, every line of the script with your changes, in one "
                      "```python block."}[edit_format]
    return [*messages, {"role": "assistant", "content": answer},
            {"role": "user", "content": f"Your answer has these problems:\n{listed}\n\n{again}"}]
