from mlops_lsp.validate import problems, syntax_error

ORIGINAL = "import numpy as np\n\n" + "".join(f"x{i} = np.zeros({i})\n" for i in range(40)) + "print(x1)\n"


def test_valid_adaptation_has_no_problems():
    adapted = "import mlflow\n" + ORIGINAL + "mlflow.log_metric('x', 1.0)\n"
    assert problems(ORIGINAL, adapted) == []


def test_syntax_error_is_one_line():
    message = syntax_error("def f(:\n    pass\n")
    assert message and "\n" not in message and "line 1" in message


def test_new_undefined_name_is_reported_but_not_preexisting_ones():
    original = ORIGINAL + "print(undefined_before)\n"
    assert problems(original, original) == []
    found = problems(original, original + "mlflow.log_metric('x', 1)\n")
    assert found == ["undefined name(s): mlflow"]


def test_lazy_placeholder_is_reported():
    found = problems(ORIGINAL, ORIGINAL + "# ... rest of code ...\n")
    assert any("placeholder" in p for p in found)
    found = problems(ORIGINAL, ORIGINAL + "def train():\n    pass  # your code here\n")
    assert any("placeholder" in p for p in found)


def test_large_deletion_is_reported_small_is_not():
    lines = ORIGINAL.splitlines(keepends=True)
    assert problems(ORIGINAL, "".join(lines[:-3] + lines[-1:])) == []
    found = problems(ORIGINAL, "".join(lines[:10]) + "print(x1)\n")
    assert any("were removed" in p for p in found)
