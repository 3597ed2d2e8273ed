"""Helpers shared by the codemods: finding training calls and wrapping the code that trains."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.metadata import ParentNodeProvider, QualifiedNameProvider


def iter_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node below ``node``, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def qualified_names(codemod, node: cst.CSTNode) -> set[str]:
    return {q.name for q in codemod.get_metadata(QualifiedNameProvider, node, set())}


def uses_library(codemod, tree: cst.Module, library: str) -> bool:
    """True when some call in ``tree`` resolves to ``library`` (e.g. "mlflow")."""
    for node in iter_nodes(tree):
        if isinstance(node, cst.Call):
            for name in qualified_names(codemod, node.func):
                if name == library or name.startswith(library + "."):
                    return True
    return False


def method_calls(tree: cst.Module, methods: Sequence[str]) -> list[cst.Call]:
    """Calls ``<anything>.<method>(...)`` for the given method names, in source order."""
    matcher = m.Call(func=m.Attribute(attr=m.OneOf(*(m.Name(n) for n in methods))))
    return [node for node in iter_nodes(tree) if isinstance(node, cst.Call) and m.matches(node, matcher)]


def _is_main_guard(node: cst.CSTNode) -> bool:
    return m.matches(
        node,
        m.If(
            test=m.Comparison(
                left=m.Name("__name__"),
                comparisons=[m.ComparisonTarget(operator=m.Equal(), comparator=m.SimpleString())],
            )
        ),
    )


@dataclass(frozen=True)
class Region:
    """A run of statements ``owner.body[index:]`` in one scope, where tracking begins."""

    owner: cst.Module | cst.IndentedBlock
    index: int
    function: cst.FunctionDef | None  # the function whose body this is, if any


def region_of(codemod, node: cst.CSTNode) -> Region:
    """The scope statement list holding ``node``: its function's body, the body of a module-level
    ``if __name__ == "__main__":``, or the module; and the index of the statement holding it."""
    child = node
    parent = codemod.get_metadata(ParentNodeProvider, child)
    while True:
        if isinstance(parent, cst.Module):
            return Region(parent, parent.body.index(child), None)
        if isinstance(parent, cst.IndentedBlock):
            owner = codemod.get_metadata(ParentNodeProvider, parent)
            if isinstance(owner, cst.FunctionDef):
                return Region(parent, list(parent.body).index(child), owner)
            if _is_main_guard(owner) and isinstance(codemod.get_metadata(ParentNodeProvider, owner), cst.Module):
                return Region(parent, list(parent.body).index(child), None)
        if isinstance(parent, cst.SimpleStatementSuite) and isinstance(
            codemod.get_metadata(ParentNodeProvider, parent), cst.FunctionDef
        ):
            raise SkipFile("the training call is in a one-line function body")
        if isinstance(parent, cst.Lambda):
            raise SkipFile("the training call is inside a lambda")
        child, parent = parent, codemod.get_metadata(ParentNodeProvider, parent)


def assigned_names(statements: Sequence[cst.CSTNode], value: Callable[[cst.BaseExpression], bool]) -> list[str]:
    """Names bound by ``name = <value>`` among (and below) ``statements`` whose value matches."""
    names = []
    for statement in statements:
        for node in iter_nodes(statement):
            if isinstance(node, cst.Assign) and value(node.value):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        names.append(target.target.value)
    return names


def parameters(function: cst.FunctionDef) -> set[str]:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return {p.name.value for p in every}


def parse_statement(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def wrap_in_with(
    tree: cst.Module,
    region: Region,
    *,
    before: Sequence[str],
    with_item: str,
    first: Sequence[str] = (),
    tail_transformer: cst.CSTTransformer | None = None,
) -> cst.Module:
    """Put ``before`` statements, then ``with <with_item>:`` holding ``first`` statements and
    ``region.owner.body[region.index:]`` (rewritten by ``tail_transformer`` if given), in place of
    that tail of the body. Comments and blank lines before the first wrapped statement stay above
    the new code."""
    body = list(region.owner.body)
    head, tail = body[: region.index], body[region.index :]
    if tail_transformer is not None:
        # visited inside a block so that a statement may become several (FlattenSentinel)
        tail = list(cst.IndentedBlock(body=tail).visit(tail_transformer).body)
    leading = tail[0].leading_lines
    tail[0] = tail[0].with_changes(leading_lines=())
    new_before = [parse_statement(code) for code in before]
    with_statement = parse_statement(f"with {with_item}:\n    pass\n")
    assert isinstance(with_statement, cst.With)
    inner = [parse_statement(code) for code in first] + tail
    with_statement = with_statement.with_changes(body=with_statement.body.with_changes(body=inner))
    new_stmts = [*new_before, with_statement]
    new_stmts[0] = new_stmts[0].with_changes(leading_lines=leading)
    new_owner = region.owner.with_changes(body=[*head, *new_stmts])
    if isinstance(region.owner, cst.Module):
        return new_owner
    return tree.deep_replace(region.owner, new_owner)
