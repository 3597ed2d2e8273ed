"""Hunks: the statements a translation rewrites, found with libcst and replaced one group at a time."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import libcst as cst
import pytest

from mlops_lsp import hunks
from mlops_lsp.actions import registry
from mlops_lsp.edit_formats import AnswerError

DATASET = Path(__file__).resolve().parents[2] / "dataset"
DVC = registry()["translate.gitpython-dvc"]
REWRITES = re.compile(DVC.rewrites[0])

SCRIPT = '''\
"""Keeps data in Git LFS."""
import git


class Store:
    def setup(self, repo):
        """Install Git LFS."""
        repo.git.lfs("install", "--local")  # filters
        for pattern in ["*.csv", "*.npy"]:
            repo.git.lfs("track", pattern)
        with repo.config_writer() as config:
            config.set_value("user", "name", "bot")
            repo.git.add(".gitattributes")
        repo.index.commit("Track data with Git LFS")


def main():
    repo = git.Repo.init("r")
    Store().setup(repo)

    # data goes through the LFS filter
    repo.git.add("data.csv")
    print("done")
'''


def test_hunks_are_runs_of_matching_statements_in_their_blocks() -> None:
    found = hunks.find(cst.parse_module(SCRIPT), REWRITES)
    assert [(h.scope, h.code) for h in found] == [
        # a loop whose every statement matches is one statement of the run; a docstring never matches
        ("Store.setup", 'repo.git.lfs("install", "--local")  # filters\n'
                        'for pattern in ["*.csv", "*.npy"]:\n    repo.git.lfs("track", pattern)\n'),
        # a block that also does something else is searched: only its matching statement
        ("Store.setup", 'repo.git.add(".gitattributes")\n'),
        # a message that names LFS is git-lfs use too (the checker's rule)
        ("Store.setup", 'repo.index.commit("Track data with Git LFS")\n'),
        # the comment lines just above belong to the hunk, the blank line does not
        ("main", '# data goes through the LFS filter\nrepo.git.add("data.csv")\n'),
    ]
    assert found[0].describe() == "these lines of `Store.setup()`"


def test_every_dataset_translation_has_hunks() -> None:
    for script in sorted(DATASET.glob("git-*/train.py")):
        found = hunks.find(cst.parse_module(script.read_text(encoding="utf-8")), REWRITES)
        assert found, script
        assert any(re.search(DVC.removes[0], h.code) for h in found), script


def test_the_examples_hunks_give_its_adaptation() -> None:
    # The guide a small model is shown is the worked example itself, statement group by group: that
    # example runs and does the task (test_prompts.py::test_hand_written_example_runs).
    example = DVC.example
    module = cst.parse_module(example.before)
    found = hunks.find(module, REWRITES)
    assert len(found) == len(example.hunks)
    done = {i: (h, hunks.parse_answer(code, h)) for i, (h, code) in enumerate(zip(found, example.hunks))}
    assert hunks.render(module, done) == example.after


def _replace(source: str, answer: str, index: int = 0) -> str:
    module = cst.parse_module(source)
    hunk = hunks.find(module, REWRITES)[index]
    return hunks.render(module, {index: (hunk, hunks.parse_answer(answer, hunk))})


def test_render_keeps_everything_outside_the_hunk_byte_for_byte() -> None:
    adapted = _replace(SCRIPT, "from dvc.repo import Repo as DvcRepo\n\n# DVC, not LFS\nDvcRepo.init(repo.working_tree_dir)\n")
    expected = SCRIPT.replace("import git\n", "import git\nfrom dvc.repo import Repo as DvcRepo\n").replace(
        '        repo.git.lfs("install", "--local")  # filters\n'
        '        for pattern in ["*.csv", "*.npy"]:\n            repo.git.lfs("track", pattern)\n',
        "        # DVC, not LFS\n        DvcRepo.init(repo.working_tree_dir)\n")
    assert adapted == expected


def test_a_deleted_hunk_leaves_pass_in_an_empty_block() -> None:
    source = "import git\n\ndef setup(repo):\n    repo.git.lfs('install')\n"
    assert _replace(source, "# nothing: DVC needs no filters\n") == "import git\n\ndef setup(repo):\n    pass\n"


@pytest.mark.parametrize("answer", [
    # indented as in the file
    '        dvc_repo.add(str(p))\n        dvc_repo.push()\n',
    # first line flush left, the rest indented (copied from the prompt)
    'dvc_repo.add(str(p))\n        dvc_repo.push()\n',
    # with the lines around the hunk repeated for context
    '    repo = git.Repo.init("r")\n    Store().setup(repo)\n    dvc_repo.add(str(p))\n    dvc_repo.push()\n    print("done")\n',
    # the whole function returned
    'def main():\n    repo = git.Repo.init("r")\n    Store().setup(repo)\n    dvc_repo.add(str(p))\n    dvc_repo.push()\n'
    '    print("done")\n',
])
def test_answers_are_read_whatever_their_indentation_and_context(answer: str) -> None:
    adapted = _replace(SCRIPT, answer, index=3)
    assert '\n    Store().setup(repo)\n\n    dvc_repo.add(str(p))\n    dvc_repo.push()\n    print("done")\n' in adapted
    assert adapted.count('repo = git.Repo.init("r")') == 1


def test_lines_a_replacement_repeats_from_one_rewritten_before_are_dropped() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-basic: each answer repeated the DVC setup of the one before.
    source = (DATASET / "git-lfs-basic" / "train.py").read_text(encoding="utf-8")
    module = cst.parse_module(source)
    first, second = hunks.find(module, REWRITES)[:2]
    setup = "dvc_repo = DvcRepo.init(repo.working_tree_dir)\n"
    done = {0: (first, hunks.parse_answer(setup, first))}
    replacement = hunks.parse_answer(setup + "dvc_repo.add(str(data_file))\n", second, done)
    assert [hunks.statement_code(s) for s in replacement.statements] == ["dvc_repo.add(str(data_file))\n"]


def test_an_answer_with_only_the_lines_around_the_hunk_is_not_a_deletion() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-basic: asked for the `git add` line, it answered the two
    # lines after it; trimmed, that was an empty replacement, i.e. the data add deleted.
    hunk = hunks.find(cst.parse_module(SCRIPT), REWRITES)[3]
    with pytest.raises(AnswerError, match="repeats lines from around these lines"):
        hunks.parse_answer('print("done")\n', hunk)
    assert hunks.parse_answer("# DVC needs no filters\n", hunk).statements == ()  # a deletion, said as one


def test_an_answer_that_does_not_parse_is_one_line_for_the_model() -> None:
    hunk = hunks.find(cst.parse_module(SCRIPT), REWRITES)[0]
    with pytest.raises(AnswerError, match="^your code does not parse: line 1"):
        hunks.parse_answer("dvc_repo = DvcRepo.init(\n", hunk)


def test_lines_matching_skips_comments_and_docstrings() -> None:
    code = '"""Moved off Git LFS."""\nimport git\n# no more git-lfs\nrepo = git.Repo(".")\nprint("LFS files: none")\n'
    assert hunks.lines_matching(code, re.compile(DVC.removes[0])) == ['print("LFS files: none")']
    assert hunks.lines_matching("def broken(:\n", re.compile("x")) == []
    ast.parse(SCRIPT)  # the fixture itself is valid Python


def test_a_replacement_must_keep_working_on_what_the_hunk_worked_on() -> None:
    # Seen from Qwen2.5-Coder-1.5B: `repo.git.add(CONFIG["features_path"], CONFIG["labels_path"])` answered
    # with the features file only (git-lfs-remote-push); `branch.checkout()` answered with a DVC checkout
    # and no git checkout (git-data-branches).
    source = (DATASET / "git-lfs-remote-push" / "train.py").read_text(encoding="utf-8")
    hunk = hunks.find(cst.parse_module(source), REWRITES)[1]
    assert hunk.operands() == ["repo", "CONFIG['features_path']", "CONFIG['labels_path']"]
    one = hunks.parse_answer('dvc_repo = DvcRepo(repo.working_tree_dir)\ndvc_repo.add(CONFIG["features_path"])\n', hunk)
    assert hunk.operands_missing_from(one) == ["CONFIG['labels_path']"]
    both = hunks.parse_answer("root = Path(repo.working_tree_dir)\n"
                              "DvcRepo(root).add([str(root / p) for p in (CONFIG['features_path'], CONFIG['labels_path'])])\n",
                              hunk)
    assert hunk.operands_missing_from(both) == []
    # Names the hunk binds itself are not operands: `pattern` of `for pattern in ...: repo.git.lfs("track", pattern)`.
    setup = hunks.find(cst.parse_module(SCRIPT), REWRITES)[0]
    assert setup.operands() == ["repo"]


# The training lines an inline action changes (hunks.training) and the worked example's version of them.

def _training(case: str, action: str = "tracking.mlflow") -> hunks.Hunk:
    found = hunks.training(cst.parse_module((DATASET / case / "train.py").read_text(encoding="utf-8")), action)
    assert found is not None
    return found


def test_the_training_lines_are_the_training_and_the_results_computed_after_it() -> None:
    flat = _training("pytorch-regression-mlp")
    assert flat.scope == "" and flat.code.startswith("for epoch in range(epochs):")
    assert flat.code.rstrip().endswith('val mse {val_mse:.4f}")')  # the epoch loop, not the saving after it
    in_main = _training("sklearn-svm-digits")
    assert in_main.scope == "main" and in_main.code.startswith("model.fit(X_train, y_train)")
    assert "results = {" in in_main.code and "json.dump" not in in_main.code  # up to the first output
    keras = _training("keras-regression")
    assert keras.code.splitlines()[0].startswith("history = model.fit(") and "model.evaluate(" in keras.code
    assert "model.save(" not in keras.code


def test_the_training_lines_are_found_under_a_main_guard_and_not_in_a_class() -> None:
    guarded = cst.parse_module("import x\n\nif __name__ == '__main__':\n    m = x.M()\n    m.fit(1)\n    s = m.score()\n"
                               "    print(s)\n")
    found = hunks.training(guarded, "tracking.mlflow")
    assert found is not None and found.code == "m.fit(1)\ns = m.score()\n"
    lightning = cst.parse_module("class Lit:\n    def training_step(self, batch):\n        loss = self(batch)\n"
                                 "        loss.backward()\n        return loss\n")
    assert hunks.training(lightning, "tracking.mlflow") is None
    assert hunks.training(cst.parse_module("print('no training here')\n"), "tracking.mlflow") is None


@pytest.mark.parametrize("action_id", [a.id for a in registry().values() if a.changes_training])
@pytest.mark.parametrize("framework", ["pytorch", "keras", "sklearn"])
def test_each_worked_example_shows_its_training_lines_kept_and_added_to(action_id: str, framework: str) -> None:
    from mlops_lsp import prompts

    action = registry()[action_id]
    shown = prompts.example(action, framework)
    guide = prompts.training_guide(action, shown)
    if (action_id, framework) == ("tracking.wandb", "keras"):
        # Its training lines pass `callbacks=[stop, WandbEpochLogger()]`, a class it defines above them: shown
        # alone they would be copied with an undefined name, so that action takes the region format there.
        assert guide is None and shown is not None and "class WandbEpochLogger" in shown.after
        return
    assert guide is not None, f"{action_id} has no worked example of its training lines for {framework}"
    script, lines, became = guide
    ast.parse(became)
    assert lines in script.replace("\n    ", "\n") or lines.splitlines()[0] in script
    kept = {line.strip() for line in became.splitlines()}
    assert all(line.strip() in kept for line in lines.splitlines()), (lines, became)
    assert became.strip() != lines.strip() and action.library in became


def test_a_whole_function_or_file_returned_for_the_training_lines_gives_only_their_part() -> None:
    source = (DATASET / "sklearn-svm-digits" / "train.py").read_text(encoding="utf-8")
    module = cst.parse_module(source)
    training = hunks.training(module, "tracking.wandb")
    assert training is not None
    answer = source.replace("    model.fit(X_train, y_train)\n",
                            "    run = wandb.init(project='svm')\n    model.fit(X_train, y_train)\n"
                            "    run.log({'c': C})\n").replace("import sys\n", "import sys\nimport wandb\n")
    replacement = hunks.parse_answer(answer, training)
    code = hunks.render(module, {0: (training, replacement)})
    assert code.count("X_train, X_test, y_train, y_test = load_data()") == 1  # not repeated inside main()
    assert code.count("run = wandb.init(project='svm')") == 1 and code.count("def load_data") == 1
    assert "import wandb" in code
