"""Does a call run during training? A structural check of the model's pruning answers.

Small models prune once the training loop is over, so the pruned model never trains: the bench's
checker fails such a script after minutes of running it; this check tells the model at once.
Lenient by design (line order, no call graph): it reports only a call that every training step
precedes and that shares no loop with one.
"""

from __future__ import annotations

import ast
import re

# What a training step calls: an optimizer's or a loss's backward pass, or a trainer.
_STEP_METHODS = frozenset({"step", "backward", "fit", "train_on_batch"})


def _callee(call: ast.Call) -> str:
    try:
        return ast.unparse(call.func)
    except Exception:  # unparse of exotic nodes: not a call we look for
        return ""


def _loops_around(tree: ast.AST) -> dict[ast.AST, list[ast.AST]]:
    """Each node's enclosing for/while loops, innermost last."""
    enclosing: dict[ast.AST, list[ast.AST]] = {}

    def visit(node: ast.AST, loops: list[ast.AST]) -> None:
        enclosing[node] = loops
        inner = [*loops, node] if isinstance(node, (ast.For, ast.AsyncFor, ast.While)) else loops
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, [])
    return enclosing


def runs_after_training(code: str, callee_pattern: str) -> bool:
    """True when the code calls ``callee_pattern`` (a regex on the called expression, e.g.
    ``prune\\.l1_unstructured``) only after its last training step and in no loop with a step."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    targets = [c for c in calls if re.search(callee_pattern, _callee(c))]
    steps = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr in _STEP_METHODS]
    if not targets or not steps:
        return False
    loops = _loops_around(tree)
    last_step = max(s.lineno for s in steps)
    step_loops = {id(loop) for s in steps for loop in loops[s]}
    return all(t.lineno > last_step and not any(id(loop) in step_loops for loop in loops[t]) for t in targets)


# Loggers that log every epoch by themselves: an explicit call after training is then a summary.
_LOGGING_CALLEES = re.compile(r"(autolog|Logger|WandbCallback)$")


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, list[ast.AST]]:
    """Each node's enclosing function/class definitions, innermost last."""
    enclosing: dict[ast.AST, list[ast.AST]] = {}
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

    def visit(node: ast.AST, outer: list[ast.AST]) -> None:
        enclosing[node] = outer
        inner = [*outer, node] if isinstance(node, scopes) else outer
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, [])
    return enclosing


def _logs_by_itself(call: ast.Call, steps: list[ast.Call], scopes: dict[ast.AST, list[ast.AST]]) -> bool:
    """A logging callback or autolog that is in place for training: not one set up after the last
    training step of its own function (``mlflow.autolog()`` after ``model.fit``: it logs nothing)."""
    if not (_LOGGING_CALLEES.search(_callee(call)) or any(k.arg == "callbacks" for k in call.keywords)):
        return False
    scope = scopes[call][-1] if scopes[call] else None
    same_scope = [s for s in steps if (scopes[s][-1] if scopes[s] else None) is scope]
    return not same_scope or call.lineno <= max(s.lineno for s in same_scope)


def logs_only_once(code: str, callee_pattern: str) -> bool:
    """True when every call of ``callee_pattern`` (a metric logger) runs once, after training: in no
    loop, at module level or in a function that no loop calls (not in a method: a callback may run
    every epoch). Small models log Keras' final loss once after ``fit``; an iterative trainer's run
    needs the curve."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    targets = [c for c in calls if re.search(callee_pattern, _callee(c))]
    steps = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr in _STEP_METHODS]
    if not targets or not steps:
        return False
    loops, scopes = _loops_around(tree), _enclosing_functions(tree)
    if any(_logs_by_itself(call, steps, scopes) for call in calls):
        return False

    def runs_once(node: ast.AST, seen: frozenset[int] = frozenset()) -> bool:
        if loops[node]:
            return False
        if not scopes[node]:
            return True
        function = scopes[node][-1]
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or any(
                isinstance(outer, ast.ClassDef) for outer in scopes[node]):
            return False
        if id(function) in seen:
            return False  # recursion: may run any number of times
        callers = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == function.name]
        return all(runs_once(c, seen | {id(function)}) for c in callers)

    return all(runs_once(t) for t in targets)
