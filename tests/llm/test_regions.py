"""Region selection and the libcst splice: the rest of the file is untouched by construction."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from mlops_lsp import regions, validate

DATASET = Path(__file__).resolve().parents[2] / "dataset"


def _source(case: str) -> str:
    return (DATASET / case / "train.py").read_text(encoding="utf-8")


def test_flat_script_region_runs_from_the_hyperparameters_to_the_end() -> None:
    source = _source("sklearn-tree-regression")
    region = regions.select(cst.parse_module(source), "tracking.mlflow")
    assert region is not None
    lines = source.splitlines()
    assert lines[region.first_line - 1] == "rng = np.random.RandomState(1)"
    assert region.last_line == len(lines)
    assert "regressor.fit(X_train, y_train)" in region.code


def test_function_script_region_is_the_driver_not_the_helper() -> None:
    source = _source("pytorch-siamese")
    region = regions.select(cst.parse_module(source), "tracking.mlflow")
    assert region is not None
    assert region.code.startswith("def main() -> None:")
    assert "train_epoch(model" in region.code and "def train_epoch" not in region.code
    assert region.after.strip() == 'if __name__ == "__main__":\n    main()'


def test_translation_region_spans_the_helpers_that_call_git() -> None:
    source = _source("git-lfs-remote-push")
    module = cst.parse_module(source)
    inline = regions.select(module, "tracking.mlflow")
    translation = regions.select(module, "translate.gitpython-dvc")
    assert inline is not None and inline.code.startswith("def main()")
    assert translation is not None and translation.code.startswith("def open_repo(")
    assert 'repo.git.lfs("track", "*.npy")' in translation.code and "def main()" in translation.code


def test_a_docstring_that_mentions_fit_is_not_training_code() -> None:
    source = '"""We fit( a model and call .backward( here."""\nimport x\n\n\ndef helper():\n    return 1\n'
    assert regions.select(cst.parse_module(source)) is None


@pytest.mark.parametrize("case", sorted(p.name for p in DATASET.iterdir() if (p / "train.py").is_file()))
def test_region_text_matches_the_file_and_identity_splice_is_exact(case: str) -> None:
    source = _source(case)
    module = cst.parse_module(source)
    region = regions.select(module)
    assert region is not None, case
    lines = source.splitlines()
    assert "\n".join(lines[region.first_line - 1: region.last_line]) + "\n" == region.code
    assert region.before + region.code + region.after == source
    assert regions.splice(module, region, region.code) == source


def test_splice_keeps_everything_outside_byte_identical_and_hoists_imports() -> None:
    source = _source("pytorch-siamese")
    module = cst.parse_module(source)
    region = regions.select(module)
    assert region is not None
    answer = ("import mlflow\nimport os\nfrom torch.utils.data import DataLoader\n\n"
              + region.code.replace("    history = []\n", "    history = []\n    mlflow.log_param(\"lr\", args.lr)\n"))
    out = regions.splice(module, region, answer)
    before, rest = out.split("def main() -> None:", 1)
    # The only change before the region is the new import line; os and DataLoader were imported already.
    assert before.replace("import mlflow\n", "", 1) == region.before
    assert before.count("import mlflow") == 1 and before.count("import os\n") == 1
    assert out.endswith(region.after)
    assert '    mlflow.log_param("lr", args.lr)\n' in rest
    assert "import mlflow" not in rest


def test_splice_drops_statements_copied_from_outside_the_region() -> None:
    source = _source("pytorch-siamese")
    module = cst.parse_module(source)
    region = regions.select(module)
    assert region is not None
    helper = module.code_for_node(next(s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == "set_seed"))
    out = regions.splice(module, region, helper.strip("\n") + "\n\n\n" + region.code)
    assert out == source


def test_splice_keeps_the_unchanged_statements_an_answer_leaves_out_at_either_end() -> None:
    source = _source("pytorch-regression-mlp")
    module = cst.parse_module(source)
    region = regions.select(module, "pruning.torch")
    assert region is not None and region.code.startswith("torch.manual_seed(0)")
    # The answer starts at the model (the seeds and the data before it are left out) and stops
    # after the training loop (the saving after it is left out); it changes a line in between.
    start = region.code.index("model = nn.Sequential")
    end = region.code.index("torch.save(")
    answer = region.code[start:end].replace("loss_fn = nn.MSELoss()\n", "loss_fn = nn.L1Loss()\n")
    out = regions.splice(module, region, answer)
    assert out == source.replace("loss_fn = nn.MSELoss()\n", "loss_fn = nn.L1Loss()\n")


def test_splice_does_not_restore_statements_the_answer_moved() -> None:
    source = _source("pytorch-regression-mlp")
    module = cst.parse_module(source)
    region = regions.select(module, "hpo.optuna")
    assert region is not None
    start = region.code.index("model = nn.Sequential")
    # "epochs = 5" moved below the model: the leading statements are not all absent, so the
    # answer is taken as it is (validation judges what is missing).
    answer = region.code[start:].replace("loss_fn = nn.MSELoss()\n", "loss_fn = nn.MSELoss()\nepochs = 5\n")
    out = regions.splice(module, region, answer)
    assert "torch.manual_seed(0)" not in out


def test_splice_keeps_the_original_of_code_outside_the_region_the_answer_rewrote() -> None:
    source = _source("sklearn-svm-digits")
    module = cst.parse_module(source)
    region = regions.select(module, "tracking.mlflow")
    assert region is not None and region.code.startswith("def main():")
    # Recorded from Qwen2.5-Coder-1.5B: with its region it returned the helpers too, one of them
    # changed (load_iris for load_digits), and a constant changed.
    load_data = source[source.index("def load_data():"):source.index("def build_model")]
    answer = (load_data.replace("load_digits", "load_iris") + "C = 3.0\n\n\n"
              + region.code.replace("    model.fit(X_train, y_train)\n", "    model.fit(X_train, y_train)\n    fitted = True\n"))
    out = regions.splice(module, region, answer)
    assert out == source.replace("    model.fit(X_train, y_train)\n", "    model.fit(X_train, y_train)\n    fitted = True\n")


def test_splice_accepts_a_whole_file_answer() -> None:
    source = _source("pytorch-siamese")
    module = cst.parse_module(source)
    region = regions.select(module)
    assert region is not None
    whole = source.replace("    history = []\n", "    history = []  # kept\n")
    assert regions.splice(module, region, whole) == whole


def test_splice_reports_code_that_does_not_parse() -> None:
    source = _source("sklearn-tree-regression")
    module = cst.parse_module(source)
    region = regions.select(module)
    assert region is not None
    with pytest.raises(regions.SpliceError, match="does not parse"):
        regions.splice(module, region, "def broken(:\n    pass\n")


def test_forgotten_imports_of_known_modules_are_added() -> None:
    code = '"""Doc."""\nimport numpy\n\nwith mlflow.start_run():\n    print(os.getcwd(), unknown_name)\n'
    out = regions.add_missing_imports(code, {"mlflow", "os", "unknown_name"})
    assert out.startswith('"""Doc."""\nimport numpy\nimport mlflow\nimport os\n')
    assert out.endswith("    print(os.getcwd(), unknown_name)\n")


def test_dropped_constants_are_put_back_before_their_first_use() -> None:
    source = _source("pytorch-regression-mlp")
    module = cst.parse_module(source)
    # Seen from Qwen2.5-Coder-1.5B: the hyperparameters dropped, their uses kept.
    answer = source.replace("hidden_size = 64\nlr = 1e-2\n", "").replace("epochs = 5\n", "")
    restored = regions.restore_definitions(module, answer, {"hidden_size", "lr", "epochs"})
    assert restored.index("hidden_size = 64") < restored.index("model = nn.Sequential(")
    assert restored.index("lr = 1e-2") < restored.index("optimizer = torch.optim.Adam(")
    assert restored.index("epochs = 5") < restored.index("for epoch in range(epochs):")
    # A name the answer assigns elsewhere (used before it) is not a plain drop: left alone.
    moved = answer + "epochs = 7\n"
    assert regions.restore_definitions(module, moved, {"epochs"}) == moved


def test_a_constant_bound_only_inside_a_new_function_is_put_back_for_the_rest() -> None:
    # Seen from Qwen2.5-Coder-1.5B on pytorch-regression-mlp (HPO): `lr = trial.suggest_float(...)` in
    # objective() and the script's `lr = 1e-2` left out, while the final training still reads `lr`.
    source = _source("pytorch-regression-mlp")
    module = cst.parse_module(source)
    objective = "def objective(trial):\n    lr = trial.suggest_float('lr', 1e-3, 1e-1)\n    return lr\n\n\n"
    answer = source.replace("lr = 1e-2\n", "").replace("epochs = 5\n", objective + "epochs = 5\n")
    assert "lr" in validate.undefined_names(answer)
    restored = regions.restore_definitions(module, answer, {"lr"})
    assert "lr" not in validate.undefined_names(restored)
    assert restored.index("lr = 1e-2") < restored.index("optimizer = torch.optim.Adam(")
    assert "    lr = trial.suggest_float(" in restored


def test_a_constant_read_only_by_a_function_is_put_back_before_that_function() -> None:
    module = cst.parse_module("import math\nscale = 2.0\n\ndef train():\n    return math.pi * scale\n\nprint(train())\n")
    answer = "import math\n\ndef train():\n    return math.pi * scale\n\nprint(train())\n"
    restored = regions.restore_definitions(module, answer, {"scale"})
    assert restored.index("scale = 2.0") < restored.index("def train():")
    assert not validate.undefined_names(restored)


def test_a_statement_read_only_by_an_f_string_goes_back_before_it() -> None:
    # Seen from Qwen2.5-Coder-1.5B on keras-regression (HPO): the metric moved into a new function and the
    # last line kept. Read as tokens, the f-string hid its reader and the line went above the function,
    # where `model` did not exist yet (NameError at run time).
    module = cst.parse_module("model = make()\nmae = model.score()\nprint(f'final mae: {mae:.4f}')\n")
    answer = ("def run():\n    global model\n    model = make()\n    mae = model.score()\n    return mae\n\n\n"
              "run()\nprint(f'final mae: {mae:.4f}')\n")
    restored = regions.restore_definitions(module, answer, {"mae"})
    assert restored.endswith("run()\nmae = model.score()\nprint(f'final mae: {mae:.4f}')\n"), restored


def test_left_out_data_statements_are_put_back_with_what_they_read() -> None:
    source = _source("pytorch-regression-mlp")
    module = cst.parse_module(source)
    answer = (DATASET.parent / "tests" / "data" / "llm" / "nncf_answer_without_data.py").read_text(encoding="utf-8")
    missing = set(validate.undefined_names(answer))
    assert {"X", "X_train", "y_train", "hidden_size"} <= missing and "n_samples" not in missing
    restored = regions.restore_definitions(module, answer, missing)
    assert set(validate.undefined_names(restored)) == {"json"}  # an import: the splice keeps the module's
    # `X_train, ... = X[:1600], ...` needs X, X needs n_samples: all come back, in the original's order,
    # before the first statement that reads them; the answer's own statements are untouched.
    order = ["n_samples, n_features = 2000, 8", "hidden_size = 64", "X = torch.randn(n_samples, n_features)",
             "true_w = torch.randn(n_features, 1)", "X_train, y_train, X_val, y_val = X[:1600]",
             "model = SequentialForNncf("]
    positions = [restored.index(line) for line in order]
    assert positions == sorted(positions)
    assert "torch.manual_seed(0)" not in restored  # binds nothing the answer reads: not restored
    assert restored.count("X = torch.randn") == 1


def test_imports_after_other_statements_are_not_added_again_above_them() -> None:
    # keras-regression sets KERAS_BACKEND between its imports: `import keras` above that line would
    # pick another backend. An answer repeating the imports adds only the new one.
    source = _source("keras-regression")
    module = cst.parse_module(source)
    region = regions.body(module)
    assert region is not None and region.code.startswith("keras.utils.set_random_seed(3)")
    answer = "import json\nimport keras\nimport numpy as np\nfrom keras import layers\nimport mlflow\n\n" + region.code
    out = regions.splice(module, region, answer.replace("epochs = 4\n", "epochs = 4\nmlflow.log_param('epochs', epochs)\n"))
    assert out == source.replace('import os\n', 'import os\nimport mlflow\n', 1).replace(
        "epochs = 4\n", "epochs = 4\nmlflow.log_param('epochs', epochs)\n")


def test_a_left_out_function_is_put_back_before_its_caller() -> None:
    # Seen from Qwen2.5-Coder-1.5B on git-lfs-remote-push: `main` left out, `main()` still called.
    source = _source("git-lfs-basic")
    module = cst.parse_module(source)
    main = next(s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == "main")
    answer = source.replace(module.code_for_node(main), "\n\n")
    assert set(validate.undefined_names(answer)) == {"main"}
    restored = regions.restore_definitions(module, answer, {"main"})
    assert not validate.undefined_names(restored)
    assert restored.index("def main() -> None:") < restored.index('if __name__ == "__main__":')
