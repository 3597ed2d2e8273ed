"""The one-shot examples the model is shown: every action and framework gets one, and the hand-written
ones (actions whose codemods' examples are mostly helpers) are real: they run and do the task."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_lsp import prompts
from mlops_lsp.actions import registry
from mlops_lsp.detect import DocumentFacts
from mlops_lsp.engines import llm

DATASET = Path(__file__).resolve().parents[2] / "dataset"

PAIRS = [(action, framework) for action in registry().values() for framework in action.frameworks]
HAND_WRITTEN = [action for action in registry().values() if action.example is not None]


@pytest.mark.parametrize(("action", "framework"), PAIRS, ids=[f"{a.id}-{f}" for a, f in PAIRS])
def test_every_action_and_framework_has_a_short_example(action, framework) -> None:
    shown = prompts.example(action, framework)
    assert shown is not None
    assert len(shown.after.splitlines()) <= max(prompts.EXAMPLE_MAX_LINES, len((action.example or shown).after.splitlines()))
    messages = prompts.build(action, "print(1)\n", edit_format="region", region_code="print(1)\n",
                             region_lines="lines 1-1", shown=shown)
    # A one-shot chat: the example's request and answer, then the request for this script.
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert shown.before.rstrip() in messages[1]["content"]
    assert messages[2]["content"] == f"```python\n{shown.after.rstrip()}\n```"
    assert "print(1)" in messages[3]["content"] and shown.after.rstrip() not in messages[3]["content"]


@pytest.mark.parametrize("action", HAND_WRITTEN, ids=[a.id for a in HAND_WRITTEN])
def test_hand_written_example_passes_the_model_checks(action) -> None:
    facts = DocumentFacts(framework=action.frameworks[0], trains=True, modules=frozenset())
    assert llm.check(action.example.before, action.example.after, action, facts) == []


@pytest.mark.parametrize("action", HAND_WRITTEN, ids=[a.id for a in HAND_WRITTEN])
def test_hand_written_example_runs(action, tmp_path: Path) -> None:
    for name, code in (("before.py", action.example.before), ("after.py", action.example.after)):
        (tmp_path / name).write_text(code, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run([sys.executable, "after.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    if action.id == "translate.gitpython-dvc":
        listed = subprocess.run(["git", "-C", "data-repo", "ls-files"], cwd=tmp_path, capture_output=True,
                                text=True, check=True).stdout.split()
        assert "data.csv.dvc" in listed and "data.csv" not in listed
        assert any((tmp_path / "data-repo.dvc-storage").rglob("*")), "nothing was pushed to the DVC remote"
    else:
        import torch

        state = torch.load(tmp_path / "model.pt")
        # NNCF keeps its masks beside the dense weights; prune.remove bakes the zeros in.
        suffix = "binary_mask" if action.id == "pruning.nncf" else "weight"
        zeroed = [v for k, v in state.items() if k.endswith(suffix)]
        assert zeroed, sorted(state)
        sparsity = sum(float((w == 0).sum()) for w in zeroed) / sum(w.numel() for w in zeroed)
        assert sparsity >= 0.3


def test_check_shows_the_statement_behind_a_dropped_name() -> None:
    action = registry()["tracking.mlflow"]
    facts = DocumentFacts(framework="sklearn", trains=True, modules=frozenset({"numpy"}))
    source = "import numpy as np\nrng = np.random.default_rng(0)\nx = rng.normal()\nprint(x)\n"
    answer = "import mlflow\nimport numpy as np\nwith mlflow.start_run():\n    x = rng.normal()\n    print(x)\n"
    found = llm.check(source, answer, action, facts)
    assert "the original defines rng with `rng = np.random.default_rng(0)`: keep that statement" in found


def test_check_names_the_variable_an_undefined_name_was_meant_to_be() -> None:
    # Seen from Qwen2.5-Coder-1.5B on pytorch-regression-mlp: `examples_inputs=x[:1]` copied from the
    # NNCF example, where the script's data is `X` (and `x` is forward()'s parameter).
    action = registry()["pruning.nncf"]
    facts = DocumentFacts(framework="pytorch", trains=True, modules=frozenset({"torch"}))
    source = "import torch\nX = torch.randn(4, 2)\nprint(X.sum())\n"
    answer = ("import torch\nimport nncf\n\nclass Net(torch.nn.Sequential):\n    def forward(self, x):\n        x = x + 1\n"
              "        return x\n\nX = torch.randn(4, 2)\nmodel = nncf.prune(Net(), examples_inputs=x[:1])\nprint(X.sum())\n")
    found = llm.check(source, answer, action, facts)
    assert "`x` is not defined; did you mean `X`?" in found
    assert not any("did you mean" in p for p in llm.check(source, answer.replace("x[:1]", "unrelated"), action, facts))


def test_check_says_where_a_name_used_out_of_its_function_lives() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-basic: the DVC repository created in one function and
    # used in another.
    action = registry()["translate.gitpython-dvc"]
    facts = DocumentFacts(framework="gitpython", trains=True, modules=frozenset({"git"}))
    source = "import git\n\ndef init():\n    return git.Repo.init('r')\n\ndef main():\n    repo = init()\n    print(repo)\n"
    answer = ("import git\nfrom dvc.repo import Repo as DvcRepo\n\ndef init():\n    dvc_repo = DvcRepo.init('r')\n"
              "    return git.Repo.init('r')\n\ndef main():\n    repo = init()\n    dvc_repo.add('d.csv')\n    print(repo)\n")
    # ... and how the worked example's function that did not create it gets one.
    assert ("`dvc_repo` is assigned only inside init(), not where it is used: create it there, "
            "or pass it as an argument/return it; a function of the example that did not create it does "
            "`dvc_repo = DvcRepo(repo.working_tree_dir)`") in llm.check(source, answer, action, facts)


GIT_LFS = DATASET / "git-lfs-basic" / "train.py"
GIT_FACTS = DocumentFacts(framework="gitpython", trains=True, modules=frozenset({"git", "numpy"}))


def test_check_says_to_keep_a_git_repository_the_answer_made_a_dvc_one() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-basic: `repo = dvc.repo.Repo.init(...)` in place of
    # `git.Repo.init`, then a dozen "DvcRepo has no attribute config_writer/git/iter_commits".
    action = registry()["translate.gitpython-dvc"]
    source = GIT_LFS.read_text(encoding="utf-8")
    answer = source.replace("import git\n", "import git\nimport dvc.repo\n").replace(
        'repo = git.Repo.init(args.repo_dir, initial_branch="main")', "repo = dvc.repo.Repo.init(args.repo_dir)")
    keep = ("`repo` was a git object and the script still uses it as one: keep `repo` as it was and "
            "give the dvc object its own name (`dvc_repo`)")
    assert keep in llm.check(source, answer, action, GIT_FACTS)
    assert keep not in llm.check(source, action.example.after.replace("data-repo", "r"), action, GIT_FACTS)
    # An inline action wraps the script's object in the library's: that is the task, not a mistake.
    nncf = registry()["pruning.nncf"]
    torch_source = "import torch\nmodel = torch.nn.Linear(2, 1)\nprint(model)\n"
    wrapped = "import torch\nimport nncf\nmodel = torch.nn.Linear(2, 1)\nmodel = nncf.prune(model)\nprint(model)\n"
    facts = DocumentFacts(framework="pytorch", trains=True, modules=frozenset({"torch"}))
    assert not any("its own name" in p for p in llm.check(torch_source, wrapped, nncf, facts))


def test_check_shows_the_examples_line_for_a_name_never_created_and_not_a_line_the_task_removes() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-basic: `dvc_repo.add(...)` with no `dvc_repo` anywhere, and
    # `lfs_files` (from `repo.git.lfs("ls-files")`) left in a print after the line was translated away.
    action = registry()["translate.gitpython-dvc"]
    source = GIT_LFS.read_text(encoding="utf-8")
    answer = source.replace('repo.git.add(".gitattributes", "data/measurements.csv")', "dvc_repo.add(str(data_file))")
    answer = answer.replace('    lfs_files = repo.git.lfs("ls-files").splitlines()\n', "")
    answer = "from dvc.repo import Repo as DvcRepo\n" + answer
    found = llm.check(source, answer, action, GIT_FACTS)
    assert ("`dvc_repo` is used but never created: create it as the example does, "
            "`dvc_repo = DvcRepo.init(repo.working_tree_dir)`") in found
    assert not any("keep that statement" in p for p in found), found
    # The git-lfs uses left are quoted first: told only "git-lfs is still called", the model keeps `install`;
    # a message that names LFS counts too (the checker's rule).
    lfs = next(p for p in found if p.startswith("still there: "))
    assert lfs.startswith('still there: `repo.git.lfs("install", "--local")`, `repo.git.lfs("track", "data/*.csv")`, '
                          '`print(f"LFS files: {lfs_files}")`: the script must not use or name git-lfs')


def test_check_reports_a_dropped_final_print_and_not_a_moved_one() -> None:
    # Seen from Qwen2.5-Coder-1.5B on keras-regression (HPO): the script rewritten into an objective
    # function that returns test_mae, and its last print left out.
    action = registry()["hpo.optuna"]
    facts = DocumentFacts(framework="keras", trains=True, modules=frozenset())
    source = (DATASET / "keras-regression" / "train.py").read_text(encoding="utf-8")
    dropped = source.replace('print(f"final test mae: {test_mae:.4f}")\n', "")
    message = 'keep `print(f"final test mae: {test_mae:.4f}")`'
    assert any(message in p for p in llm.check(source, dropped, action, facts))
    moved = dropped.replace("test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)\n",
                            "test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)\n"
                            "print(f\"final test mae: {test_mae:.3f}\")\n")
    assert not any(message in p for p in llm.check(source, moved, action, facts))


def test_every_codemod_example_meets_its_actions_requirements() -> None:
    # The requirements go back to the model as problems: known-good adaptations must meet them.
    from mlops_lsp.codemods import all_codemods

    def unmet(action, shown, framework: str) -> list[str]:
        facts = DocumentFacts(framework=framework, trains=True, modules=frozenset())
        declared = {*dict(action.requires).values(),
                    *(check[1] for check in (action.during_training, action.per_epoch) if check)}
        return [p for p in llm.check(shown.before, shown.after, action, facts) if p in declared]

    for codemod in all_codemods():
        for shown in codemod.EXAMPLES:
            assert unmet(registry()[codemod.ACTION], shown, codemod.FRAMEWORKS[0]) == [], codemod.__name__


def test_registry_notes_name_the_flavour_of_the_framework() -> None:
    # Seen from Qwen2.5-Coder-1.5B: a torch model logged with mlflow.sklearn, and Keras' input_example
    # (broken in MLflow 3): the note for the script's framework says what works.
    action = registry()["registry.mlflow"]
    assert "mlflow.pytorch.log_model(model" in prompts.constraints(action, "pytorch")
    keras_note = prompts.constraints(action, "keras")
    assert "signature=infer_signature(" in keras_note and "no `input_example`" in keras_note
    assert "mlflow.pytorch.log_model(model" not in prompts.constraints(action, "sklearn")
    # MLflow 3's default skops format refuses to load a tree back (seen in every sklearn registry sample).
    assert 'serialization_format="cloudpickle"' in prompts.constraints(action, "sklearn")


def test_requirements_match_library_calls_by_qualified_name() -> None:
    # Seen from Qwen2.5-Coder-1.5B: `from nncf import prune` then `prune(model, ...)`.
    action = registry()["pruning.nncf"]
    facts = DocumentFacts(framework="pytorch", trains=True, modules=frozenset({"torch"}))
    source = "import torch\nmodel = torch.nn.Linear(2, 1)\nprint(model)\n"
    imported = "import torch\nfrom nncf import prune\nmodel = torch.nn.Linear(2, 1)\nmodel = prune(model, ratio=0.5)\nprint(model)\n"
    assert "nothing is pruned: call nncf.prune(model, ...) before or during training" not in llm.check(source, imported, action, facts)
    other = imported.replace("from nncf import prune", "import nncf\nfrom torch.nn.utils import prune")
    assert "nothing is pruned: call nncf.prune(model, ...) before or during training" in llm.check(source, other, action, facts)


def test_a_tree_model_logged_with_mlflows_default_format_is_reported() -> None:
    # Seen from Qwen2.5-Coder-1.5B on sklearn-tree-regression: `mlflow.sklearn.log_model(regressor, "model")`,
    # which MLflow 3 refuses at run time (skops: untrusted type sklearn.tree._tree.Tree).
    action = registry()["tracking.mlflow"]
    facts = DocumentFacts(framework="sklearn", trains=True, modules=frozenset({"sklearn", "numpy"}))
    source = (DATASET / "sklearn-tree-regression" / "train.py").read_text(encoding="utf-8")
    logged = "import mlflow\n" + source + 'mlflow.sklearn.log_model(regressor, name="model")\n'
    problem = 'mlflow.sklearn.log_model(...) of a tree model needs serialization_format="cloudpickle"'
    assert any(p.startswith(problem) for p in llm.check(source, logged, action, facts))
    fixed = logged.replace('name="model")', 'name="model", serialization_format="cloudpickle")')
    assert not any(p.startswith(problem) for p in llm.check(source, fixed, action, facts))
    # Not a tree: skops saves it (the gold adaptations of the SVM and SGD cases do so).
    for gold in sorted(DATASET.glob("sklearn-*/gold/*.mlflow.py")):
        case_source = (gold.parents[1] / "train.py").read_text(encoding="utf-8")
        found = llm.check(case_source, gold.read_text(encoding="utf-8"), registry()[gold.stem], facts)
        assert not any(p.startswith(problem) for p in found), gold


def test_a_second_dvc_init_is_reported() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-remote-push: the DVC setup copied into commit_and_tag(),
    # which then fails at run time ("'.dvc' exists").
    action = registry()["translate.gitpython-dvc"]
    once = "from dvc.repo import Repo as DvcRepo\n\ndef setup(path):\n    DvcRepo.init(path)\n"
    twice = once + "\ndef commit(path):\n    dvc_repo = DvcRepo.init(path)\n    dvc_repo.add(path)\n"
    problem = "DvcRepo.init(...) is called more than once"
    assert any(p.startswith(problem) for p in llm.check("print(1)\n", twice, action, GIT_FACTS))
    assert not any(p.startswith(problem) for p in llm.check("print(1)\n", once, action, GIT_FACTS))


def test_undefined_name_hints_name_the_attribute_or_the_parameters_meant() -> None:
    # Seen from Qwen2.5-Coder-1.5B: `repo` in a method of a class that keeps `self.repo`
    # (git-dataset-pipeline), `args.remote` inside open_repo(repo_dir, remote_url) (git-lfs-remote-push).
    source = ("class Store:\n    def __init__(self, repo):\n        self.repo = repo\n\n"
              "    def commit(self):\n        self.repo.index.commit('x')\n\n"
              "def main():\n    args = object()\n\ndef open_repo(repo_dir, remote_url):\n    return repo_dir\n")
    answer = source.replace("self.repo.index.commit('x')", "repo.index.commit('x')").replace(
        "return repo_dir", "return args.remote")
    hints = llm._undefined_name_hints(source, answer)
    assert "`repo` is not defined; did you mean `self.repo`?" in hints
    assert any(h.startswith("`args` is assigned only inside main()") and
               h.endswith("(open_repo() has the parameters repo_dir, remote_url)") for h in hints)


def test_the_examples_line_for_a_missing_name_is_offered_only_where_it_would_work() -> None:
    # The example's `data_path = Path(repo.working_tree_dir, path)` reads a parameter `path` that a flat
    # script does not have: offered there, it made the next answer fail on `path`.
    action = registry()["translate.gitpython-dvc"]
    shown = prompts.example(action, "gitpython")
    source = "import git\nrepo = git.Repo('.')\n"
    answer = source + "print(data_path)\n"
    assert not any("data_path" in h and "create it as the example does" in h
                   for h in llm._undefined_name_hints(source, answer, shown))
    with_path = "from pathlib import Path\nimport git\nrepo = git.Repo('.')\npath = 'x.csv'\nprint(data_path)\n"
    assert any("create it as the example does, `data_path = Path(repo.working_tree_dir, path)`" in h
               for h in llm._undefined_name_hints(source, with_path, shown))


def test_check_reports_the_used_value_of_a_function_that_returns_nothing() -> None:
    # Seen from Qwen2.5-Coder-1.5B on keras-regression (HPO), 2 of 3 samples: every trial failed on float(None).
    action = registry()["hpo.optuna"]
    facts = DocumentFacts(framework="keras", trains=True, modules=frozenset())
    source = "epochs = 3\nscore = epochs * 2\nprint(f'final score: {score}')\n"
    answer = ("import optuna\n\nepochs = 3\n\ndef train_and_evaluate():\n    \"\"\"Returns the score.\"\"\"\n"
              "    score = epochs * 2\n    print(f'final score: {score}')\n\n\n"
              "def objective(trial):\n    return float(train_and_evaluate())\n\n\n"
              "study = optuna.create_study()\nstudy.optimize(objective, n_trials=3)\ntrain_and_evaluate()\n")
    message = ("`train_and_evaluate()` returns nothing (it has no `return` with a value), yet "
               "`return float(train_and_evaluate())` uses its value: end `train_and_evaluate` with `return` of "
               "the value it computes")
    assert message in llm.check(source, answer, action, facts)
    returns = answer.replace("    print(f'final score: {score}')\n", "    print(f'final score: {score}')\n    return score\n")
    assert not any("returns nothing" in p for p in llm.check(source, returns, action, facts))
    # A call whose value is dropped, or a generator, is fine; so is what the script already did.
    generator = answer.replace("    print(f'final score: {score}')\n", "    yield score\n")
    assert not any("returns nothing" in p for p in llm.check(source, generator, action, facts))
    assert not any("returns nothing" in p for p in llm.check(answer, answer.replace("n_trials=3", "n_trials=4"),
                                                                  action, facts))


def test_check_reports_a_line_that_reads_a_name_before_the_function_that_binds_it_runs() -> None:
    # Seen from Qwen2.5-Coder-1.5B on keras-regression (HPO): `model` bound only by `global model` in
    # train_and_evaluate(), and a top-level line above its first call reads it (NameError at run time).
    action = registry()["hpo.optuna"]
    facts = DocumentFacts(framework="keras", trains=True, modules=frozenset())
    source = "model = make()\nmae = model.score()\nprint(f'final mae: {mae}')\n"
    answer = ("import optuna\n\nmae = model.score()\n\ndef train_and_evaluate():\n    global model\n"
              "    model = make()\n    return model.score()\n\n\ndef objective(trial):\n"
              "    return train_and_evaluate()\n\n\nstudy = optuna.create_study()\n"
              "study.optimize(objective, n_trials=3)\nprint(f'final mae: {mae}')\n")
    message = ("`mae = model.score()` reads `model` before it exists: only a function binds it (`global model`), "
               "and that function has not run yet there; move the line into that function or after its call")
    assert message in llm.check(source, answer, action, facts)
    # After a call that reaches the function (through study.optimize(objective)), the name exists.
    after = answer.replace("mae = model.score()\n\n", "").replace("print(f'final mae", "mae = model.score()\nprint(f'final mae")
    assert not any("before it exists" in p for p in llm.check(source, after, action, facts))


def _training_of(case: str):
    import libcst as cst

    from mlops_lsp import hunks

    module = cst.parse_module((DATASET / case / "train.py").read_text(encoding="utf-8"))
    return module, hunks.training(module, "tracking.mlflow")


def test_training_lines_the_answer_drops_go_back_and_a_changed_call_does_not() -> None:
    from mlops_lsp import hunks

    _, training = _training_of("pytorch-regression-mlp")
    # Qwen2.5-Coder-1.5B's answer for pruning.torch: the worked example's one-batch loop over the script's batches.
    simpler = hunks.parse_answer(
        "for epoch in range(epochs):\n    optimizer.zero_grad()\n    loss = loss_fn(model(X_train), y_train)\n"
        "    loss.backward()\n    optimizer.step()\n    with torch.no_grad():\n"
        "        val_mse = loss_fn(model(X_val), y_val).item()\n"
        "    print(f\"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val mse {val_mse:.4f}\")\n", training)
    [problem] = llm._dropped_training_lines(training, simpler)
    assert "`for start in range(0, len(X_train), batch_size):`" in problem and "only add to it" in problem
    wrapped = hunks.parse_answer("with mlflow.start_run():\n" + "".join(
        f"    {line}\n" for line in training.code.splitlines()), training)
    assert llm._dropped_training_lines(training, wrapped) == []
    _, keras = _training_of("keras-regression")
    callback = hunks.parse_answer(keras.code.replace("verbose=2)", "verbose=2, callbacks=[logger])"), keras)
    assert llm._dropped_training_lines(keras, callback) == []


def test_an_answer_that_does_not_train_goes_after_the_training_lines() -> None:
    from mlops_lsp import hunks

    module, training = _training_of("sklearn-tree-regression")
    additions = hunks.parse_answer("with mlflow.start_run():\n    mlflow.sklearn.log_model(regressor, name='m')\n",
                                   training)
    placed = llm._after_training(additions, training, module)
    assert placed.statements[:len(training.statements)] == training.statements
    assert placed.statements[len(training.statements):] == additions.statements
    rewritten = hunks.parse_answer("with mlflow.start_run():\n    regressor.fit(X_train, y_train)\n", training)
    assert llm._after_training(rewritten, training, module) is rewritten
