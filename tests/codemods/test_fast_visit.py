"""``fast_visit`` must make exactly the callbacks libcst's own ``visit`` makes, in the same order,
on real training scripts (the bundled dataset's originals and HPO golds)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from mlops_lsp.codemods._shared import fast_visit

DATASET = Path(__file__).resolve().parents[2] / "dataset"
# the originals, and the golds that change the most code (every shape of the dataset, in less time)
SCRIPTS = sorted(DATASET.glob("*/train.py")) + sorted(DATASET.glob("*/gold/hpo.optuna.py"))


class _Trace(cst.CSTVisitor):
    """Records every enter and leave, and skips the bodies of classes (a False return)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.events.append(("enter", id(node)))
        return not isinstance(node, cst.ClassDef)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.events.append(("leave", id(original_node)))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_callbacks_as_libcst(script: Path) -> None:
    tree = cst.parse_module(script.read_text(encoding="utf-8"))
    expected, actual = _Trace(), _Trace()
    tree.visit(expected)
    fast_visit(tree, actual)
    assert len(actual.events) > 100
    assert actual.events == expected.events


def test_visit_method_returning_false_skips_children() -> None:
    seen: list[str] = []

    class Names(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            seen.append(node.value)

    fast_visit(cst.parse_module("a = b\ndef f(c):\n    return d\n"), Names())
    assert seen == ["a", "b"]
