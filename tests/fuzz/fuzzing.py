"""Property checks and program mutations shared by the fuzz tests and ``benchmarks/fuzz_codemods.py``.

``violations(source, action_id)`` runs one action through the core (codemod strategy) and through
the codemod engine directly, and returns every broken property, one line each (an empty list is a
pass). The properties, for every action and any source that parses:

- nothing raises (the core, the engine, each candidate codemod: only ``SkipFile`` is a decline);
- an adapted source parses (libcst and ``ast``);
- adapting the result again changes nothing (idempotent);
- every comment of the original is still in the result;
- the minimal edits, applied by two independent appliers, give the result exactly.

The mutations turn a real training script into a variant a user could have written: variables
renamed, statements reordered or deleted, the training wrapped in a function, a class or a
``__main__`` guard, other import styles, comments, decorators and type hints added, CRLF line
endings and tab indentation.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import libcst as cst
from hypothesis import strategies as st
from libcst.codemod import CodemodContext, SkipFile

from mlops_lsp.actions import get, registry
from mlops_lsp.codemods import codemods_for
from mlops_lsp.core import adapt
from mlops_lsp.detect import DocumentFacts, detect
from mlops_lsp.edits import apply_edits
from mlops_lsp.engines import codemod as codemod_engine
from mlops_lsp.options import Options

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = {
    path.parent.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "dataset").glob("*/train.py"))
}
ACTIONS = tuple(registry())
CODEMOD = Options(strategy="codemod")


# -- properties -----------------------------------------------------------------------------------


# A translation rewrites the source library's name in comments too ("through the LFS filter" ->
# "through the DVC filter"): comments are compared with that wording normalised.
_TRANSLATED_WORDS = {"translate.gitpython-dvc": (re.compile(r"git[- ]lfs|\blfs\b", re.I), "DVC")}


def comments(source: str, action_id: str | None = None) -> Counter[str]:
    """Every comment token, as written (``tokenize`` sees comments the way Python does)."""
    pattern, replacement = _TRANSLATED_WORDS.get(action_id or "", (None, ""))
    found: Counter[str] = Counter()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.rstrip()
            found[pattern.sub(replacement, text) if pattern else text] += 1
    return found


def _char_units(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(char) > 0xFFFF else 1


def _lsp_offset(lines: list[str], starts: list[int], line: int, character: int, encoding: str) -> int:
    if line >= len(lines):
        return starts[-1]
    content = lines[line].rstrip("\r\n")
    units = 0
    for index, char in enumerate(content):
        if units >= character:
            return starts[line] + index
        units += _char_units(char, encoding)
    return starts[line] + len(content)


def apply_like_an_editor(text: str, edits, encoding: str = "utf-16") -> str:
    """Apply edits as the LSP specification says an editor does (lines end at \\n, \\r\\n or \\r
    only; characters are UTF-16 code units): written independently of the server's edits module.
    pygls' document model is not used: it splits lines with ``str.splitlines``, which also breaks
    at form feeds and U+2028."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans = sorted(
        (
            (_lsp_offset(lines, starts, e.start.line, e.start.character, encoding),
             _lsp_offset(lines, starts, e.end.line, e.end.character, encoding), e.new_text)
            for e in edits
        ),
        key=lambda span: span[:2],
    )
    for start, end, new_text in reversed(spans):
        text = text[:start] + new_text + text[end:]
    return text


def _parse_problem(source: str) -> str | None:
    try:
        cst.parse_module(source)
        ast.parse(source)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def parses(source: str) -> bool:
    return _parse_problem(source) is None


def _crash(where: str) -> str:
    last = traceback.format_exc().strip().splitlines()
    return f"{where} raised: {last[-1]} (at {last[-3].strip() if len(last) >= 3 else '?'})"


def _check_engine(source: str, action_id: str, facts: DocumentFacts) -> list[str]:
    """The codemod engine and each candidate codemod directly: only ``SkipFile`` may come out."""
    found: list[str] = []
    tree = cst.parse_module(source)
    action = get(action_id)
    try:
        codemod_engine.run(tree, action, facts)
    except Exception:
        found.append(_crash(f"codemod engine ({action_id})"))
    for codemod in codemods_for(action_id, facts.framework):
        try:
            code = codemod(CodemodContext()).transform_module(tree).code
        except SkipFile:
            continue
        except Exception:
            found.append(_crash(f"{codemod.__name__}"))
            continue
        problem = _parse_problem(code)
        if problem:
            found.append(f"{codemod.__name__} output does not parse: {problem}")
    return found


def violations(source: str, action_id: str, *, framework: str | None = None) -> list[str]:
    """Every property ``action_id`` breaks on ``source`` (which must parse); [] when all hold.
    ``framework`` forces the codemods of that framework onto the source (for generated programs
    that detection would not recognise)."""
    facts = detect(source)
    if framework is not None:
        facts = DocumentFacts(modules=facts.modules, framework=framework, trains=True)
    found = _check_engine(source, action_id, facts)
    try:
        result = adapt(source, action_id, CODEMOD)
    except Exception:
        return [*found, _crash(f"adapt({action_id})")]
    if result.status == "error" and "syntax error" not in result.message:
        found.append(f"adapt({action_id}) error on a parsing source: {result.message}")
    if len(result.message.splitlines()) > 1:
        found.append(f"adapt({action_id}) message is not one line: {result.message!r}")
    if not result.ok:
        return found
    adapted = result.source
    assert adapted is not None
    problem = _parse_problem(adapted)
    if problem:
        return [*found, f"{action_id} output does not parse: {problem}"]
    lost = comments(source, action_id) - comments(adapted, action_id)
    if lost:
        found.append(f"{action_id} lost comment(s): {', '.join(sorted(lost))[:160]}")
    for name, applier in (("server", lambda t, e: apply_edits(t, list(e))), ("editor", apply_like_an_editor)):
        try:
            applied = applier(source, result.edits)
        except Exception:
            found.append(_crash(f"applying {action_id} edits ({name})"))
            continue
        if applied != adapted:
            found.append(f"{action_id} edits applied by {name} differ from the adapted source")
    try:
        again = adapt(adapted, action_id, CODEMOD)
    except Exception:
        return [*found, _crash(f"adapt({action_id}) on its own output")]
    if again.ok:
        found.append(f"{action_id} is not idempotent: a second run changed the code again")
    elif not (again.status == "unchanged" or (again.status == "declined" and "already" in again.message)):
        found.append(f"{action_id} on its own output: {again.status}: {again.message[:120]}")
    return found


# -- mutations ------------------------------------------------------------------------------------

Mutation = Callable[[cst.Module, random.Random], cst.Module]


def _statement_blocks(tree: cst.Module) -> list[cst.Module | cst.IndentedBlock]:
    blocks: list[cst.Module | cst.IndentedBlock] = [tree]

    class Collect(cst.CSTVisitor):
        def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
            blocks.append(node)

    tree.visit(Collect())
    return blocks


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
    )


class _ReplaceBlock(cst.CSTTransformer):
    def __init__(self, old: cst.CSTNode, new: cst.CSTNode) -> None:
        self.old, self.new = old, new

    def on_leave(self, original_node, updated_node):
        return self.new if original_node is self.old else updated_node


def _edit_block(tree: cst.Module, block, body: list[cst.BaseStatement]) -> cst.Module:
    if block is tree:
        return tree.with_changes(body=body)
    return tree.visit(_ReplaceBlock(block, block.with_changes(body=body)))


def delete_statement(tree: cst.Module, rng: random.Random) -> cst.Module:
    blocks = [b for b in _statement_blocks(tree) if len(b.body) > 1]
    if not blocks:
        return tree
    block = rng.choice(blocks)
    body = list(block.body)
    candidates = [i for i, s in enumerate(body) if not _is_import(s)]
    if not candidates:
        return tree
    del body[rng.choice(candidates)]
    return _edit_block(tree, block, body)


def swap_statements(tree: cst.Module, rng: random.Random) -> cst.Module:
    blocks = [b for b in _statement_blocks(tree) if len(b.body) > 1]
    if not blocks:
        return tree
    block = rng.choice(blocks)
    body = list(block.body)
    i = rng.randrange(len(body) - 1)
    body[i], body[i + 1] = body[i + 1], body[i]
    return _edit_block(tree, block, body)


class _Rename(cst.CSTTransformer):
    """Rename a variable everywhere it is a plain name (not an attribute, keyword or import)."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return False  # only the object is renamed, in leave_Attribute (leave runs without the visit)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(value=original_node.value.visit(self))

    def visit_Arg(self, node: cst.Arg) -> bool:
        return True

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value=self.new) if original_node.value == self.old else updated_node


def rename_variable(tree: cst.Module, rng: random.Random) -> cst.Module:
    assigned: set[str] = set()

    class Targets(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            for name in _names(node.target):
                assigned.add(name)

        def visit_For(self, node: cst.For) -> None:
            assigned.update(_names(node.target))

        def visit_Param(self, node: cst.Param) -> None:
            if node.name.value not in ("self", "cls"):
                assigned.add(node.name.value)

    tree.visit(Targets())
    if not assigned:
        return tree
    old = rng.choice(sorted(assigned))
    return tree.visit(_Rename(old, f"{old}_{rng.choice(['v2', 'renamed', 'x'])}"))


def _names(node: cst.CSTNode) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for element in node.elements for n in _names(element.value)]
    return []


def _script_statements(tree: cst.Module) -> tuple[list, list, list]:
    """(header, definitions, script): imports/docstring, defs/classes, and the rest, in order."""
    header, definitions, script = [], [], []
    for index, statement in enumerate(tree.body):
        if _is_import(statement) or (index == 0 and m_docstring(statement)):
            header.append(statement)
        elif isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            definitions.append(statement)
        else:
            script.append(statement)
    return header, definitions, script


def m_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _wrap(tree: cst.Module, rng: random.Random, template: str, call: str) -> cst.Module:
    header, definitions, script = _script_statements(tree)
    if not script:
        return tree
    wrapper = cst.parse_statement(template)
    holder = wrapper
    while not isinstance(holder.body.body[0], cst.SimpleStatementLine):  # descend to the `pass`
        holder = holder.body.body[0]
    inner = holder.with_changes(body=holder.body.with_changes(body=script))
    wrapper = wrapper.visit(_ReplaceBlock(holder, inner)) if holder is not wrapper else inner
    tail = [cst.parse_statement(call)] if call else []
    return tree.with_changes(body=[*header, *definitions, wrapper, *tail])


def wrap_in_function(tree: cst.Module, rng: random.Random) -> cst.Module:
    return _wrap(tree, rng, "def fuzz_main():\n    pass\n", 'if __name__ == "__main__":\n    fuzz_main()\n')


def wrap_in_main_guard(tree: cst.Module, rng: random.Random) -> cst.Module:
    return _wrap(tree, rng, 'if __name__ == "__main__":\n    pass\n', "")


def wrap_in_class(tree: cst.Module, rng: random.Random) -> cst.Module:
    return _wrap(tree, rng, "class FuzzTrainer:\n    def run(self):\n        pass\n", "FuzzTrainer().run()\n")


def wrap_in_try(tree: cst.Module, rng: random.Random) -> cst.Module:
    """Nest a function's whole body in try/finally (training one block deeper)."""
    functions: list[cst.FunctionDef] = []

    class Collect(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            if isinstance(node.body, cst.IndentedBlock):
                functions.append(node)

    tree.visit(Collect())
    if not functions:
        return tree
    function = rng.choice(functions)
    wrapper = cst.parse_statement("try:\n    pass\nfinally:\n    pass\n")
    wrapper = wrapper.with_changes(body=wrapper.body.with_changes(body=function.body.body))
    new = function.with_changes(body=function.body.with_changes(body=[wrapper]))
    return tree.visit(_ReplaceBlock(function, new))


class _ImportStyle(cst.CSTTransformer):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import):
        # `import torch.nn as nn` -> `from torch import nn`
        alias = updated_node.names[0]
        if len(updated_node.names) == 1 and alias.asname and isinstance(alias.name, cst.Attribute):
            asname = alias.asname.name
            if isinstance(asname, cst.Name) and asname.value == alias.name.attr.value and self.rng.random() < 0.7:
                return cst.ImportFrom(module=alias.name.value, names=[cst.ImportAlias(name=alias.name.attr)])
        return updated_node

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom):
        if isinstance(updated_node.names, cst.ImportStar) or updated_node.relative or updated_node.module is None:
            return updated_node
        module = cst.helpers.get_full_name_for_node(updated_node.module) or ""
        choice = self.rng.random()
        if choice < 0.3 and module.split(".")[0] in ("sklearn", "numpy", "math", "os"):
            return updated_node.with_changes(names=cst.ImportStar(), lpar=None, rpar=None)
        names = updated_node.names
        if choice < 0.6 and len(names) == 1 and names[0].asname is None and isinstance(names[0].name, cst.Name):
            # `from torch import nn` -> `import torch.nn as nn`
            name = names[0].name
            dotted = cst.parse_expression(f"{module}.{name.value}")
            if isinstance(dotted, cst.Attribute) and module.split(".")[0] in ("torch", "keras", "lightning"):
                return cst.Import(names=[cst.ImportAlias(name=dotted, asname=cst.AsName(name=cst.Name(name.value)))])
        return updated_node


def change_import_styles(tree: cst.Module, rng: random.Random) -> cst.Module:
    return tree.visit(_ImportStyle(rng))


def alias_module(tree: cst.Module, rng: random.Random) -> cst.Module:
    """``import torch`` -> ``import torch as T`` and every use of ``torch`` renamed."""
    plain: list[str] = []
    for statement in tree.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import):
                    plain += [a.name.value for a in small.names if isinstance(a.name, cst.Name) and a.asname is None]
    if not plain:
        return tree
    name = rng.choice(plain)
    alias = f"{name[:2].upper()}_alias"

    class AddAlias(cst.CSTTransformer):
        def leave_ImportAlias(self, original_node: cst.ImportAlias, updated_node: cst.ImportAlias):
            if isinstance(updated_node.name, cst.Name) and updated_node.name.value == name and not updated_node.asname:
                return updated_node.with_changes(asname=cst.AsName(name=cst.Name(alias)))
            return updated_node

    return tree.visit(_Rename(name, alias)).visit(AddAlias())


class _Comments(cst.CSTTransformer):
    def __init__(self, rng: random.Random) -> None:
        self.rng, self.count = rng, 0

    def _comment(self) -> str:
        self.count += 1
        return f"# fuzz comment {self.count}: keep me"

    def leave_SimpleStatementLine(self, original_node, updated_node):
        roll = self.rng.random()
        if roll < 0.15:
            line = cst.EmptyLine(comment=cst.Comment(self._comment()))
            return updated_node.with_changes(leading_lines=[*updated_node.leading_lines, line])
        if roll < 0.3 and updated_node.trailing_whitespace.comment is None:
            trailing = cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(self._comment()))
            return updated_node.with_changes(trailing_whitespace=trailing)
        return updated_node

    def leave_FunctionDef(self, original_node, updated_node):
        if self.rng.random() < 0.4:
            line = cst.EmptyLine(comment=cst.Comment(self._comment()))
            return updated_node.with_changes(leading_lines=[*updated_node.leading_lines, line])
        return updated_node


def add_comments(tree: cst.Module, rng: random.Random) -> cst.Module:
    return tree.visit(_Comments(rng))


def add_decorators(tree: cst.Module, rng: random.Random) -> cst.Module:
    class Decorate(cst.CSTTransformer):
        def leave_FunctionDef(self, original_node, updated_node):
            if rng.random() < 0.5:
                return updated_node
            decorator = cst.Decorator(decorator=cst.parse_expression(rng.choice(["fuzz_decorator", "fuzz_decorator()"])))
            return updated_node.with_changes(decorators=[decorator, *updated_node.decorators])

    header, rest = _split_header(tree)
    definition = cst.parse_module(
        "def fuzz_decorator(function=None):\n"
        "    # a pass-through decorator, usable with or without parentheses\n"
        "    return function if function is not None else (lambda f: f)\n"
    ).body
    decorated = tree.with_changes(body=rest).visit(Decorate())
    return tree.with_changes(body=[*header, *definition, *decorated.body])


def _split_header(tree: cst.Module) -> tuple[list, list]:
    last = 0
    for index, statement in enumerate(tree.body):
        if _is_import(statement):
            last = index + 1
    return list(tree.body[:last]), list(tree.body[last:])


def add_type_hints(tree: cst.Module, rng: random.Random) -> cst.Module:
    class Hints(cst.CSTTransformer):
        def leave_Param(self, original_node: cst.Param, updated_node: cst.Param):
            if updated_node.annotation is None and updated_node.name.value not in ("self", "cls") and rng.random() < 0.7:
                return updated_node.with_changes(annotation=cst.Annotation(cst.parse_expression('"object"')))
            return updated_node

        def leave_FunctionDef(self, original_node, updated_node):
            if updated_node.returns is None and rng.random() < 0.5:
                return updated_node.with_changes(returns=cst.Annotation(cst.parse_expression("None")))
            return updated_node

        def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign):
            target = updated_node.targets[0].target
            if len(updated_node.targets) == 1 and isinstance(target, cst.Name) and rng.random() < 0.3:
                return cst.AnnAssign(target=target, annotation=cst.Annotation(cst.parse_expression('"object"')),
                                     value=updated_node.value)
            return updated_node

    return tree.visit(Hints())


def tab_indentation(tree: cst.Module, rng: random.Random) -> cst.Module:
    # blocks parsed with the module's indent store None and render with default_indent
    return tree.with_changes(default_indent="\t")


CST_MUTATIONS: dict[str, Mutation] = {
    "delete_statement": delete_statement,
    "swap_statements": swap_statements,
    "rename_variable": rename_variable,
    "wrap_in_function": wrap_in_function,
    "wrap_in_main_guard": wrap_in_main_guard,
    "wrap_in_class": wrap_in_class,
    "wrap_in_try": wrap_in_try,
    "change_import_styles": change_import_styles,
    "alias_module": alias_module,
    "add_comments": add_comments,
    "add_decorators": add_decorators,
    "add_type_hints": add_type_hints,
    "tab_indentation": tab_indentation,
}


def crlf(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\n", "\r\n")


def no_final_newline(source: str) -> str:
    return source.rstrip("\r\n")


TEXT_MUTATIONS: dict[str, Callable[[str], str]] = {"crlf": crlf, "no_final_newline": no_final_newline}


def mutate(source: str, mutations: list[str], rng: random.Random) -> str:
    """Apply the named mutations in order; a mutation whose result does not parse is dropped."""
    for name in mutations:
        if name in TEXT_MUTATIONS:
            candidate = TEXT_MUTATIONS[name](source)
        else:
            try:
                candidate = CST_MUTATIONS[name](cst.parse_module(source), rng).code
            except Exception as exc:  # a mutation that cannot apply to this shape (e.g. empty body)
                if isinstance(exc, (cst.CSTValidationError, ValueError, TypeError, IndexError)):
                    continue
                raise
        if parses(candidate):
            source = candidate
    return source


def splice(script: str, generated: str, where: str) -> str:
    """Insert a generated program into a training script: after the imports, at the end, or as
    the body of a function defined in the script."""
    tree = cst.parse_module(script)
    try:
        extra = cst.parse_module(generated)
    except Exception:
        return script
    if not extra.body:
        return script
    header, rest = _split_header(tree)
    if where == "after_imports":
        return tree.with_changes(body=[*header, *extra.body, *rest]).code
    if where == "end":
        return tree.with_changes(body=[*tree.body, *extra.body]).code
    helper = cst.FunctionDef(name=cst.Name("fuzz_generated"), params=cst.Parameters(),
                             body=cst.IndentedBlock(body=list(extra.body)))
    return tree.with_changes(body=[*header, helper, *rest]).code


# -- hypothesis strategies (shared by the CI tests and the long run) ------------------------------

MUTATIONS = (*CST_MUTATIONS, *TEXT_MUTATIONS)
FRAMEWORKS_WITH_CODEMODS = ("pytorch", "lightning", "keras", "sklearn", "gitpython")


@st.composite
def mutated_scripts(draw) -> tuple[str, str]:
    """(source, action id): a dataset script under 1-4 mutations, and an action listed for it."""
    case = draw(st.sampled_from(sorted(SCRIPTS)))
    names = draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4))
    source = mutate(SCRIPTS[case], names, draw(st.randoms(use_true_random=False)))
    facts = detect(source)
    listed = [a for a in ACTIONS if get(a).applies_to(facts)] or list(ACTIONS)
    return source, draw(st.sampled_from(listed))


@st.composite
def spliced_scripts(draw) -> tuple[str, str]:
    """(source, action id): generated code inserted into a dataset script."""
    import hypothesmith

    case = draw(st.sampled_from(sorted(SCRIPTS)))
    generated = draw(hypothesmith.from_node())
    where = draw(st.sampled_from(["after_imports", "end", "function"]))
    source = splice(SCRIPTS[case], generated, where)
    if not parses(source):
        source = SCRIPTS[case]
    facts = detect(source)
    listed = [a for a in ACTIONS if get(a).applies_to(facts)] or list(ACTIONS)
    return source, draw(st.sampled_from(listed))


def generated_programs():
    import hypothesmith

    return hypothesmith.from_node()
