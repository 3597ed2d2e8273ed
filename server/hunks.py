"""The statements a translation rewrites ("hunks"), found with libcst, and their replacements spliced back.

Shown a whole function to translate from one library to another, a small model copies its first
lines unchanged (the old calls with them) and rewrites only the end (Qwen2.5-Coder-1.5B on every
GitPython + git-lfs script). Shown one group of consecutive statements that use the old library at a
time, with the script around it for context, it writes their replacement. A hunk is such a group:
consecutive statements of one block whose code (comments and docstrings aside) matches the
action's ``rewrites`` pattern; a compound statement is one statement of a hunk when every simple
statement in it matches (``for p in patterns: repo.git.lfs("track", p)``), otherwise its blocks are
searched. Everything outside the hunks stays byte-identical by construction.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Iterator, Sequence

import libcst as cst

from . import regions
from .edit_formats import AnswerError

Statement = cst.BaseStatement


@dataclass(frozen=True)
class Hunk:
    statements: tuple[Statement, ...]  # consecutive statements of one block, nodes of the parsed module
    block: tuple[Statement, ...]  # all the statements of that block
    code: str  # their text, dedented, with the comment lines just above them
    scope: str  # the enclosing function ("main", "Pipeline.setup_repo"), "" at module level

    def describe(self) -> str:
        return f"these lines of `{self.scope}()`" if self.scope else "these lines"

    def matches(self, pattern: str) -> bool:
        """Whether the hunk's code (comments aside) matches ``pattern``."""
        return re.search(pattern, code_without_comments(self.code)) is not None

    def operands(self) -> list[str]:
        """What the hunk's calls work on, defined outside it: the objects they are called on
        (``branch`` of ``branch.checkout()``) and their arguments that are not constants
        (``CONFIG["labels_path"]``, ``paths`` of ``*paths``). A translation keeps working on them."""
        tree = ast.parse(self.code)
        bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        found: list[str] = []
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            receiver: ast.AST = call.func
            while isinstance(receiver, (ast.Attribute, ast.Call, ast.Subscript)):
                receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
            operands = [receiver] if isinstance(call.func, ast.Attribute) else []
            operands += [a.value if isinstance(a, ast.Starred) else a for a in call.args]
            operands += [k.value for k in call.keywords]
            for operand in operands:
                names = {n.id for n in ast.walk(operand) if isinstance(n, ast.Name)}
                if names and not names & bound:
                    found.append(ast.unparse(operand))
        return list(dict.fromkeys(found))

    def operands_missing_from(self, replacement: Replacement) -> list[str]:
        """The hunk's operands that the replacement no longer uses."""
        code = "".join(statement_code(s) for s in replacement.statements)
        try:
            used = {ast.dump(n) for n in ast.walk(ast.parse(code))}
        except SyntaxError:
            return []
        return [o for o in self.operands() if ast.dump(ast.parse(o, mode="eval").body) not in used]


def code_without_comments(code: str) -> str:
    """``code`` without its comments (strings stay: a message that says "Git LFS" still claims it)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return code


def _bare(statement: Statement) -> Statement:
    return statement.with_changes(leading_lines=[]) if hasattr(statement, "leading_lines") else statement


def statement_code(statement: Statement) -> str:
    """The statement's code without the comment lines above it."""
    return cst.Module(body=[_bare(statement)]).code


def _is_docstring(statement: Statement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _inner_blocks(node: cst.CSTNode) -> Iterator[cst.IndentedBlock]:
    """The blocks of a compound statement (body, elif/else, handlers, finally), not deeper."""
    for child in node.children:
        if isinstance(child, cst.IndentedBlock):
            yield child
        else:
            yield from _inner_blocks(child)


def _simple_statements(node: cst.CSTNode) -> Iterator[Statement]:
    for block in _inner_blocks(node):
        for statement in block.body:
            if isinstance(statement, cst.SimpleStatementLine):
                yield statement
            else:
                yield from _simple_statements(statement)


def matches(statement: Statement, pattern: re.Pattern[str]) -> bool:
    return not _is_docstring(statement) and pattern.search(code_without_comments(statement_code(statement))) is not None


def _hunk(run: list[Statement], block: Sequence[Statement], scope: str) -> Hunk:
    comments = [line for line in getattr(run[0], "leading_lines", []) if line.comment is not None]
    first = comments[0] if comments else None
    leading = list(getattr(run[0], "leading_lines", []))
    kept = leading[leading.index(first):] if first is not None else []
    code = cst.Module(body=[run[0].with_changes(leading_lines=kept) if kept else _bare(run[0]), *run[1:]]).code
    return Hunk(tuple(run), tuple(block), code, scope)


def find(module: cst.Module, pattern: re.Pattern[str]) -> list[Hunk]:
    """The module's hunks, in file order."""
    hunks: list[Hunk] = []

    def scan(body: Sequence[Statement], scope: str) -> None:
        run: list[Statement] = []

        def flush() -> None:
            if run:
                hunks.append(_hunk(run, body, scope))
                run.clear()

        for statement in body:
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                flush()
                inner = f"{scope}.{statement.name.value}" if scope else statement.name.value
                if isinstance(statement.body, cst.IndentedBlock):
                    scan(statement.body.body, inner)
                continue
            if not matches(statement, pattern):
                flush()
                continue
            blocks = list(_inner_blocks(statement))
            if not blocks or all(matches(s, pattern) for s in _simple_statements(statement) if not _is_docstring(s)):
                run.append(statement)
                continue
            flush()
            for block in blocks:
                scan(block.body, scope)
        flush()

    scan(module.body, "")
    return hunks


@dataclass(frozen=True)
class Replacement:
    statements: tuple[Statement, ...]
    imports: tuple[tuple[str, str | None, str | None], ...]  # AddImportsVisitor requests

    def same_as(self, hunk: Hunk) -> bool:
        return [statement_code(s) for s in self.statements] == [statement_code(s) for s in hunk.statements]


def _leading_blank_lines(statement: Statement) -> list[cst.EmptyLine]:
    blanks = []
    for line in getattr(statement, "leading_lines", []):
        if line.comment is not None:
            break
        blanks.append(line)
    return blanks


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, tuple[Hunk, Replacement]]) -> None:
        super().__init__()
        self.first = {id(h.statements[0]): (h, r) for h, r in replacements.values()}
        self.dropped = {id(s) for h, _ in replacements.values() for s in h.statements[1:]}

    def _body(self, original: Sequence[Statement], updated: Sequence[Statement]) -> list[Statement]:
        body: list[Statement] = []
        for old, new in zip(original, updated):
            if id(old) in self.dropped:
                continue
            if id(old) not in self.first:
                body.append(new)
                continue
            _, replacement = self.first[id(old)]
            statements = list(replacement.statements)
            if statements and hasattr(statements[0], "leading_lines"):
                statements[0] = statements[0].with_changes(
                    leading_lines=[*_leading_blank_lines(old), *statements[0].leading_lines])
            body += statements
        return body

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return updated_node.with_changes(body=self._body(original_node.body, updated_node.body))

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        body = self._body(original_node.body, updated_node.body)
        # A block whose only statements were deleted keeps a `pass`.
        return updated_node.with_changes(body=body or [cst.SimpleStatementLine(body=[cst.Pass()])])


def render(module: cst.Module, replacements: dict[int, tuple[Hunk, Replacement]]) -> str:
    """The module's code with each hunk replaced, the replacements' imports added to its header."""
    if not replacements:
        return module.code
    updated = module.visit(_Replace(replacements))
    requests = [r for _, replacement in replacements.values() for r in replacement.imports]
    if not requests:
        return updated.code
    used = set(re.findall(r"\b\w+\b", "".join(
        statement_code(s) for _, replacement in replacements.values() for s in replacement.statements)))
    requests = list(dict.fromkeys(r for r in requests if (r[2] or r[1] or r[0].split(".")[0]) in used))
    return regions.with_imports(updated, requests).code if requests else updated.code


def _dedent(code: str) -> str:
    """Dedented code; a first line written flush left above indented lines (copied from the prompt's
    indentation) is common in small models' answers."""
    dedented = textwrap.dedent(code)
    lines = dedented.splitlines()
    if len(lines) > 1 and not lines[0].startswith((" ", "\t")):
        rest = textwrap.dedent("\n".join(lines[1:]))
        return f"{lines[0]}\n{rest}\n"
    return dedented


def current_block(hunk: Hunk, done: dict[int, tuple[Hunk, Replacement]]) -> tuple[list[Statement], list[Statement]]:
    """The statements before and after ``hunk`` in its block, with the replacements ``done`` so far."""
    first = {id(h.statements[0]): r for h, r in done.values()}
    dropped = {id(s) for h, _ in done.values() for s in h.statements[1:]}
    start = next(i for i, s in enumerate(hunk.block) if s is hunk.statements[0])

    def replaced(statements: Sequence[Statement]) -> list[Statement]:
        out: list[Statement] = []
        for statement in statements:
            if id(statement) in first:
                out += first[id(statement)].statements
            elif id(statement) not in dropped:
                out.append(statement)
        return out

    return replaced(hunk.block[:start]), replaced(hunk.block[start + len(hunk.statements):])


def parse_answer(code: str, hunk: Hunk, done: dict[int, tuple[Hunk, Replacement]] | None = None) -> Replacement:
    """The replacement of ``hunk`` in a model's answer (fenced code already extracted): imports
    apart; the statements it opens (ends) with that its block already has before (after) the hunk
    dropped: a small model repeats the lines around the hunk, the lines it rewrote before, or the
    whole function."""
    try:
        parsed = cst.parse_module(code)
    except cst.ParserSyntaxError:
        try:
            parsed = cst.parse_module(_dedent(code))
        except cst.ParserSyntaxError as exc:
            raise AnswerError(f"your code does not parse: line {exc.raw_line}: "
                              f"{exc.message.splitlines()[0][:120]}") from None
    imports = [r for s in parsed.body if regions.is_import(s) for r in regions.import_requests(s)]
    statements = [s for s in parsed.body if not regions.is_import(s)]
    header = parsed.header if parsed.body and statements and statements[0] is parsed.body[0] else []
    named = [s for s in statements if isinstance(s, cst.FunctionDef) and hunk.scope
             and s.name.value == hunk.scope.rsplit(".", 1)[-1] and isinstance(s.body, cst.IndentedBlock)]
    if len(named) == 1:
        statements, header = list(named[0].body.body), []  # the whole function (or file) returned: its body
    before, after = current_block(hunk, done or {})
    earlier, later = {statement_code(s) for s in before}, {statement_code(s) for s in after}
    answered = bool(statements)
    # The statements around the hunk's own (unchanged) ones: of a whole file or function returned,
    # those that repeat the block's lines outside the hunk go.
    own = {statement_code(s) for s in hunk.statements}
    kept = [i for i, s in enumerate(statements) if statement_code(s) in own]
    if kept:
        statements = [s for i, s in enumerate(statements)
                      if kept[0] <= i <= kept[-1] or statement_code(s) not in earlier | later]
    while statements and statement_code(statements[0]) in earlier:
        statements, header = statements[1:], []
    while statements and statement_code(statements[-1]) in later:
        statements = statements[:-1]
    if answered and not statements:
        # Not a deletion: an answer with the lines before or after these (seen from Qwen2.5-Coder-1.5B).
        raise AnswerError("your answer repeats lines from around these lines, which stay as they are; answer "
                          "with what replaces these lines only")
    if statements and hasattr(statements[0], "leading_lines"):
        # The hunk's own comment lines are replaced by those of the answer (libcst puts the comments
        # that open a module in its header); blank lines above it stay.
        statements[0] = statements[0].with_changes(
            leading_lines=[line for line in [*header, *statements[0].leading_lines] if line.comment is not None])
    return Replacement(tuple(statements), tuple(imports))


def lines_matching(code: str, pattern: re.Pattern[str]) -> list[str]:
    """The simple statements of ``code`` (docstrings aside) whose code without comments matches
    ``pattern``, one stripped line each; [] for code that does not parse."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return []
    found: list[str] = []

    class _Lines(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            if matches(node, pattern):
                found.append(statement_code(node).strip().splitlines()[0])

    module.visit(_Lines())
    return found


# A statement after training that only computes (binds names, prints nothing, writes nothing) is
# where the script's results are computed (`test_mse = mean_squared_error(...)`): logging them
# belongs with the training.
def _only_binds(statement: Statement) -> bool:
    simple = [statement] if isinstance(statement, cst.SimpleStatementLine) else list(_simple_statements(statement))
    return bool(simple) and all(isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign))
                                for line in simple for small in line.body)  # type: ignore[attr-defined]


def training(module: cst.Module, action_id: str = "") -> Hunk | None:
    """The statements an inline action changes, for a small model to rewrite alone: in the function
    (or flat script) that drives training, the statements from the first that trains to the last,
    and the statements just after them that compute the results (up to the first that prints or
    writes). None when training is driven from a class or from no statement at all."""
    body = list(module.body)
    drivers = regions.drivers(module, action_id)
    if not drivers:
        return None
    trainers = regions.trainers(module)
    first = body[drivers[0]]
    if isinstance(first, cst.ClassDef):
        return None
    if isinstance(first, cst.FunctionDef):
        if not isinstance(first.body, cst.IndentedBlock):
            return None
        block, scope = list(first.body.body), first.name.value
    else:
        block, scope = body, ""

    def training_at(statements: list[Statement]) -> list[int]:
        return [i for i, s in enumerate(statements) if not isinstance(s, (cst.FunctionDef, cst.ClassDef))
                and not regions.is_import(s) and regions.trains(statement_code(s), trainers - {scope})]

    found = training_at(block)
    # Descend into an `if __name__ == "__main__":` or a `with` around the whole training; a loop is one unit.
    while len(found) == 1 and isinstance(block[found[0]], (cst.If, cst.With, cst.Try)) \
            and isinstance(block[found[0]].body, cst.IndentedBlock):
        inner = list(block[found[0]].body.body)  # type: ignore[attr-defined]
        if not training_at(inner):
            break
        block, found = inner, training_at(inner)
    if not found:
        return None
    start, end = found[0], found[-1] + 1
    while end < len(block) and _only_binds(block[end]):
        end += 1
    return _hunk(block[start:end], block, scope)


def lines_of(module: cst.Module, hunk: Hunk) -> tuple[int, int]:
    """The 0-based first line and the end line (exclusive) of the hunk's statements in the module's code."""
    positions = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(cst.metadata.PositionProvider)
    return positions[hunk.statements[0]].start.line - 1, positions[hunk.statements[-1]].end.line


def replacement_in(before: cst.Module, after: str, hunk: Hunk) -> str | None:
    """What ``hunk`` of ``before`` became in ``after`` (a worked example's adaptation), dedented: its
    lines as ``after`` has them, with the new lines right before and after them (a run opened, a
    metric logged); None when that is not code on its own."""
    old = before.code.splitlines()
    new = after.splitlines()
    first, end = lines_of(before, hunk)
    matcher = difflib.SequenceMatcher(None, [line.strip() for line in old], [line.strip() for line in new],
                                      autojunk=False)
    matched: set[int] = set()
    start_at = stop_at = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            matched.update(range(j1, j2))
        if start_at is None and i1 <= first < max(i2, i1 + 1):
            start_at = j1 + (first - i1 if tag == "equal" else 0)
        if i1 < end <= i2 or (i1 == i2 == end - 1):
            stop_at = j1 + (end - i1) if tag == "equal" else j2
    if start_at is None or stop_at is None or stop_at <= start_at:
        return None
    while start_at > 0 and start_at - 1 not in matched and not new[start_at - 1].startswith(("import ", "from ")):
        start_at -= 1
    while stop_at < len(new) and stop_at not in matched:
        stop_at += 1
    code = textwrap.dedent("\n".join(new[start_at:stop_at])).strip("\n") + "\n"
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return code
