"""Helpers shared by the codemods: finding training calls and wrapping the code that trains.

Speed matters here (a resolve should answer in well under a second on long files), so the
helpers avoid libcst's scope and parent metadata, which cost several whole-tree passes: one
visitor pass records every call with its path from the module, and names are resolved to their
qualified form through the module's import table.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.helpers import get_full_name_for_node


@dataclass(frozen=True)
class Imports:
    """Module-level import table: local name -> qualified name ("np" -> "numpy")."""

    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: cst.Module) -> Imports:
        names: dict[str, str] = {}
        for statement in _top_level_statements(tree):
            for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        full = get_full_name_for_node(alias.name) or ""
                        if alias.asname:
                            names[get_full_name_for_node(alias.asname.name) or full] = full
                        else:
                            names[full.split(".")[0]] = full.split(".")[0]
                elif isinstance(small, cst.ImportFrom) and small.module and not small.relative:
                    module = get_full_name_for_node(small.module) or ""
                    if isinstance(small.names, cst.ImportStar):
                        continue
                    for alias in small.names:
                        name = get_full_name_for_node(alias.name) or ""
                        local = get_full_name_for_node(alias.asname.name) if alias.asname else name
                        names[local or name] = f"{module}.{name}"
        return cls(names)

    def qualified(self, node: cst.CSTNode) -> str | None:
        """``skm.accuracy_score`` -> ``sklearn.metrics.accuracy_score`` (None if not imported)."""
        dotted = get_full_name_for_node(node)
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        if head not in self.names:
            return None
        return f"{self.names[head]}.{rest}" if rest else self.names[head]

    def uses(self, library: str) -> bool:
        return any(q == library or q.startswith(library + ".") for q in self.names.values())


def _top_level_statements(tree: cst.Module):
    """Module statements, including those under ``if``/``try`` at module level (guarded imports)."""
    stack = list(reversed(tree.body))
    while stack:
        statement = stack.pop()
        yield statement
        if isinstance(statement, (cst.If, cst.Try)) and isinstance(statement.body, cst.IndentedBlock):
            stack.extend(reversed(statement.body.body))


@dataclass(frozen=True)
class Site:
    """A call and the chain of nodes from the module down to it."""

    call: cst.Call
    path: tuple[cst.CSTNode, ...]


class _CallCollector(cst.CSTVisitor):
    def __init__(self, wanted: Callable[[cst.Call], bool]) -> None:
        self.wanted = wanted
        self.stack: list[cst.CSTNode] = []
        self.sites: list[Site] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if isinstance(node, cst.Call) and self.wanted(node):
            self.sites.append(Site(node, tuple(self.stack)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def find_calls(tree: cst.Module, wanted: Callable[[cst.Call], bool]) -> list[Site]:
    """Every call for which ``wanted`` holds, in source order, with its path (one pass)."""
    if len(tree.body) >= _CACHED_MODULE_STATEMENTS:
        return [site for site in _every_call(tree) if wanted(site.call)]
    collector = _CallCollector(wanted)
    fast_visit(tree, collector)
    return collector.sites


# A codemod asks for the calls of the same module many times (the optimizer, the model's calls,
# the loaders ...): the calls of the last few whole modules are kept. Only modules of some size
# are worth it (the small ones are statement-sized views the codemods build); libcst trees are
# immutable, so a tree's calls never change, and the cache holds the trees, so identities stay unique.
_CACHED_MODULE_STATEMENTS = 8
_CALLS_OF_MODULE: dict[int, tuple[cst.Module, list[Site]]] = {}
_CACHED_MODULES = 4
_CALLS_LOCK = threading.Lock()


def _every_call(tree: cst.Module) -> list[Site]:
    with _CALLS_LOCK:  # the server resolves in worker threads
        cached = _CALLS_OF_MODULE.get(id(tree))
    if cached is not None and cached[0] is tree:
        return cached[1]
    collector = _CallCollector(lambda call: True)
    fast_visit(tree, collector)
    with _CALLS_LOCK:
        while len(_CALLS_OF_MODULE) >= _CACHED_MODULES:
            _CALLS_OF_MODULE.pop(next(iter(_CALLS_OF_MODULE)))
        _CALLS_OF_MODULE[id(tree)] = (tree, collector.sites)
    return collector.sites


def method_call(*methods: str) -> Callable[[cst.Call], bool]:
    matcher = m.Call(func=m.Attribute(attr=m.OneOf(*(m.Name(n) for n in methods))))
    return lambda call: m.matches(call, matcher)


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
    """A run of statements ``owner.body[index:]`` in one scope, where the new code begins."""

    owner: cst.Module | cst.IndentedBlock
    index: int
    function: cst.FunctionDef | None  # the function whose body this is, if any
    path: tuple[cst.CSTNode, ...]  # module .. owner


def region_of(site: Site) -> Region:
    """The scope statement list holding the call: its function's body, the body of a module-level
    ``if __name__ == "__main__":``, or the module; and the index of the statement holding it."""
    path = site.path
    for depth in range(len(path) - 2, -1, -1):
        node, child = path[depth], path[depth + 1]
        if isinstance(node, cst.Lambda):
            raise SkipFile("the training call is inside a lambda")
        if isinstance(node, cst.FunctionDef) and child is node.body:
            if not isinstance(node.body, cst.IndentedBlock):
                raise SkipFile("the training call is in a one-line function body")
            return Region(node.body, list(node.body.body).index(path[depth + 2]), node, path[: depth + 2])
        if isinstance(node, cst.Module):
            if _is_main_guard(child) and len(path) > depth + 3 and path[depth + 2] is child.body:
                block = child.body
                return Region(block, list(block.body).index(path[depth + 3]), None, path[: depth + 3])
            return Region(node, list(node.body).index(child), None, path[: depth + 1])
    raise SkipFile("could not place the training call in a scope")



def parameters(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}


class _ReplaceOnPath(cst.CSTTransformer):
    """Replace one node, descending only along the known path to it (not the whole tree)."""

    def __init__(self, path: Sequence[cst.CSTNode], old: cst.CSTNode, new: cst.CSTNode) -> None:
        super().__init__()
        self.on_path = {id(node) for node in path}
        self.old, self.new = old, new

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) in self.on_path and node is not self.old

    def on_leave(self, original_node, updated_node):
        return self.new if original_node is self.old else updated_node


def replace_node(tree: cst.Module, path: Sequence[cst.CSTNode], old: cst.CSTNode, new: cst.CSTNode) -> cst.Module:
    if old is tree:
        return new
    return tree.visit(_ReplaceOnPath(path, old, new))


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
    with_statement = cst.parse_statement(f"with {with_item}:\n    pass\n")
    assert isinstance(with_statement, cst.With)
    inner = [cst.parse_statement(code) for code in first] + tail
    with_statement = with_statement.with_changes(body=with_statement.body.with_changes(body=inner))
    new_statements = [*(cst.parse_statement(code) for code in before), with_statement]
    new_statements[0] = new_statements[0].with_changes(leading_lines=leading)
    return replace_node(tree, region.path, region.owner, region.owner.with_changes(body=[*head, *new_statements]))


# ----------------------------------------------------------------------------------------------
# fast read-only traversal
#
# ``node.visit(visitor)`` rebuilds every node it passes (libcst's visit and transform share
# ``_visit_and_replace_children``), which makes one pass over a 500-line module cost ~0.1-0.2 s.
# A read-only visitor needs none of that: ``fast_visit`` calls the same ``on_visit``/``on_leave``
# callbacks on the same nodes in the same (lexical) order, reading each node's children straight
# from its fields. The field order per node class is read once from libcst's own
# ``_visit_and_replace_children`` (the order it visits them in) and checked against
# ``node.children`` on the first node of each class; a class that does not match is walked
# through ``node.children`` (libcst's own, slower, answer).

_VISITED_FIELD = re.compile(r'visit_\w+\(\s*self,\s*"(\w+)"')
_FIELD_ORDER: dict[type, tuple[str, ...] | None] = {}


def _fields_in_visit_order(cls: type) -> tuple[str, ...] | None:
    try:
        source = inspect.getsource(cls._visit_and_replace_children)
    except (OSError, TypeError):
        return None
    return tuple(_VISITED_FIELD.findall(source))


def _children_from(node: cst.CSTNode, fields: tuple[str, ...]) -> list[cst.CSTNode]:
    children: list[cst.CSTNode] = []
    for name in fields:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            children.append(value)
        elif isinstance(value, (tuple, list)):
            children.extend(item for item in value if isinstance(item, cst.CSTNode))
    return children


def children_of(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """``node.children`` (same nodes, same order), without rebuilding the node."""
    cls = type(node)
    if cls not in _FIELD_ORDER:
        fields = _fields_in_visit_order(cls)
        expected = node.children
        if fields is not None and [id(c) for c in _children_from(node, fields)] != [id(c) for c in expected]:
            fields = None
        _FIELD_ORDER[cls] = fields
        return expected
    fields = _FIELD_ORDER[cls]
    return node.children if fields is None else _children_from(node, fields)


def fast_visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Run a read-only ``CSTVisitor`` over ``node`` like ``node.visit(visitor)`` does (same
    ``on_visit``/``on_leave`` calls; ``visit_X`` returning False skips the children), without
    libcst's rebuilding of every node. Attribute hooks (``visit_X_attr``) and metadata are not
    supported: the codemods here use neither."""
    if visitor.on_visit(node):
        for child in children_of(node):
            fast_visit(child, visitor)
    visitor.on_leave(node)
