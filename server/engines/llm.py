"""The model engine: retrieve documentation, ask the model, check the answer, repair, repeat.

One call of :func:`run` is one adaptation: the prompt (see :mod:`mlops_lsp.prompts`) asks for the
REGION around the training code (small local models), SEARCH/REPLACE blocks (strong models) or the
whole file; the answer is put in place (:mod:`mlops_lsp.regions` splices regions with libcst), then
checked with the same validation as the codemods plus the attribute check of the target library
(:mod:`mlops_lsp.attrcheck`). Problems go back to the model for ``options.repair_rounds`` rounds;
what still fails is a failure with the first problem as its reason. Engines never raise.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import logging
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import libcst as cst

from .. import attrcheck, hunks, prompts, regions, training_order, validate
from ..actions import Action, Example
from ..detect import DocumentFacts, imported_modules
from ..edit_formats import AnswerError, apply_search_replace, code_blocks, extract_code, parse_search_replace
from ..jsonworker import JsonWorker, WorkerError
from ..options import Options
from . import Outcome

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

REGION_MAX_SHARE = 0.6  # of the file's lines
DOCS_BUDGET_TOKENS = 1200  # documentation share of an ~8k context
SMALL_CONTEXT = 8192
RETRIEVAL_TIMEOUT = 900.0  # the first use builds the index (minutes)
UNCHANGED = "the code is unchanged: the task was not done"
# A small model that hands the script back unchanged does so again when shown its echo and asked to
# repair it (seen from Qwen2.5-Coder-1.5B on NNCF: three identical answers): the request is drawn
# again, fresh and hotter, instead.
RESAMPLE_TEMPERATURE = 0.8
# Calls that the installed version accepts without one of these keywords but that then fail at run
# time, in code matching a pattern: (callee, keywords, code pattern, problem).
_REQUIRED_KEYWORDS = (
    # MLflow 3 saves scikit-learn models with skops, which refuses tree models (untrusted types).
    ("mlflow.sklearn.log_model", ("serialization_format", "skops_trusted_types"), r"\bsklearn\.(tree|ensemble)\b",
     'mlflow.sklearn.log_model(...) of a tree model needs serialization_format="cloudpickle": MLflow 3\'s '
     "default format (skops) refuses trees"),
)
# Library calls that fail when the script makes them a second time: (callee, problem).
_CALLED_ONCE = (
    ("dvc.repo.Repo.init", "DvcRepo.init(...) is called more than once: it fails on a directory DVC already has; "
                           "keep the one where git-lfs was installed and open the repository elsewhere with "
                           "`dvc_repo = DvcRepo(repo.working_tree_dir)`"),
)
ITERATIVE_FRAMEWORKS = ("pytorch", "lightning", "keras")  # trained epoch by epoch: metrics have a curve


class Cancelled(Exception):
    pass


def _load_backend(spec: str) -> Any:
    try:
        from ..models import load_backend
    except ImportError:
        # The backends package is written separately; replays work without it.
        if spec.startswith("replay:"):
            from ..models.replay import ReplayBackend
            return ReplayBackend(spec.removeprefix("replay:"))
        raise
    return load_backend(spec)


def _model_error() -> type[Exception]:
    try:
        from ..models import ModelError
    except ImportError:
        from ..models.replay import ModelError  # type: ignore[assignment]
    return ModelError


def choose_format(requested: str, backend: Any, action: Action | None = None) -> prompts.EditFormat:
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if not getattr(backend, "small", True):
        return "search-replace"
    return "hunks" if action is not None and (action.rewrites or action.changes_training) else "region"


@dataclass
class _Session:
    """One adaptation: the backend, the token counts and the progress/cancel plumbing."""

    backend: Any
    options: Options
    cancel: threading.Event | None
    progress: Progress
    started: float = field(default_factory=time.monotonic)
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def remaining(self) -> float:
        return max(1.0, self.options.timeout - (time.monotonic() - self.started))

    def chat(self, messages: list[dict[str, str]], max_tokens: int, what: str, attempt: int = 0,
             temperature: float | None = None) -> Any:
        self.check_cancel()
        generated = 0
        last_report = 0.0

        def on_token(_piece: str) -> None:
            nonlocal generated, last_report
            generated += 1
            now = time.monotonic()
            if now - last_report >= 0.5:
                last_report = now
                self.progress(f"{what}: {generated} tokens")

        self.progress(f"{what}: waiting for the model")
        completion = self.backend.chat(messages, temperature=self.options.temperature if temperature is None else temperature,
                                       # a repair round must not redraw the answer it is repairing
                                       seed=self.options.seed + attempt,
                                       max_tokens=max_tokens, stop=None, on_token=on_token, cancel=self.cancel,
                                       timeout=self.remaining())
        self.tokens["prompt"] += completion.prompt_tokens
        self.tokens["completion"] += completion.completion_tokens
        if completion.finish_reason == "cancelled":
            raise Cancelled()
        return completion

    def complete(self, prompt: str) -> str:
        """The ``complete`` hook of the llm-* retrieval strategies."""
        messages = [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": prompt}]
        return self.chat(messages, 512, "retrieval: asking the model").text


_retrieval_worker: JsonWorker | None = None
_retrieval_lock = threading.Lock()


def _retrieval() -> JsonWorker:
    global _retrieval_worker
    with _retrieval_lock:
        if _retrieval_worker is None:
            _retrieval_worker = JsonWorker("mlops_lsp.retrieval_worker")
        return _retrieval_worker


def retrieve_docs(session: _Session, action: Action, source: str, framework: str | None) -> str:
    """Documentation for the prompt, or "" (logged) when the index cannot serve it."""
    strategy = session.options.retrieval
    if strategy == "none":
        return ""
    session.progress("retrieving documentation")
    worker = _retrieval()
    request = {"retrieve": {"strategy": strategy, "action": action.id, "code": source, "k": 5,
                            "budget_tokens": DOCS_BUDGET_TOKENS, "framework": framework}}
    try:
        with worker.conversation():
            worker.send(request)
            while True:
                answer = worker.receive(RETRIEVAL_TIMEOUT, session.cancel)
                if "progress" in answer:
                    session.progress(str(answer["progress"]))
                elif "complete" in answer:
                    worker.send({"completion": session.complete(str(answer["complete"]))})
                elif "result" in answer:
                    return str(answer["result"]["text"])
                else:
                    log.warning("documentation retrieval failed (%s); prompting without documentation",
                                answer.get("error", answer))
                    return ""
    except WorkerError as exc:
        session.check_cancel()
        log.warning("documentation retrieval unavailable (%s); prompting without documentation", exc)
        return ""
    except Cancelled:
        worker.close()  # it is waiting for a completion that will not come
        raise


def _max_tokens(session: _Session, messages: list[dict[str, str]], expected_code: str) -> int:
    count = session.backend.count_tokens
    expected = count(expected_code)
    prompt = sum(count(m["content"]) for m in messages) + 16 * len(messages)
    wanted = int(expected * 1.6) + 400
    if getattr(session.backend, "small", True):
        return max(256, min(wanted, SMALL_CONTEXT - prompt - 32))
    return max(256, min(wanted, 16384))


def _uses_library(action: Action, code: str) -> bool:
    if action.id == "pruning.torch":
        return "prune" in code
    return action.library in imported_modules(code)


def check(source: str, code: str, action: Action, facts: DocumentFacts,
          cancel: threading.Event | None = None) -> list[str]:
    """Everything wrong with ``code`` as the adaptation of ``source``, one line each."""
    if code == source:
        return [UNCHANGED]
    found = validate.problems(source, code)
    if found and found[0].startswith("the adapted code does not parse"):
        return found
    if action.kind == "translate":  # inline actions wrap the script's objects (`model = nncf.prune(model)`)
        found += _rebound_to_library(source, code, action.library)
    found += _left_to_remove(action, code)
    found += _dropped_definitions(source, code, action.removes[0] if action.removes else None)
    found += _undefined_name_hints(source, code, prompts.example(action, facts.framework))
    found += _dropped_final_print(source, code)
    found += _used_value_of_a_function_returning_nothing(source, code)
    found += _read_before_a_call_binds_it(source, code)
    if not _uses_library(action, code):
        found.append(f"the code does not use {action.library}: the task was not done")
    else:
        # Patterns name library calls by their qualified name: `from nncf import prune` then `prune(...)`
        # is matched as `nncf.prune(`.
        qualified = code + "\n" + "\n".join(f"{call.path}(" for call in attrcheck.library_calls(code, {action.library}))
        found += [problem for pattern, problem in action.requires if not re.search(pattern, qualified)]
        found += [problem for call in attrcheck.library_calls(code, {action.library})
                  for path, keywords, pattern, problem in _REQUIRED_KEYWORDS
                  if call.path == path and not set(keywords) & set(call.keywords) and not call.star_kwargs
                  and re.search(pattern, code)]
        if action.during_training and training_order.runs_after_training(code, action.during_training[0]):
            found.append(action.during_training[1])
        if (action.per_epoch and facts.framework in ITERATIVE_FRAMEWORKS
                and training_order.logs_only_once(code, action.per_epoch[0])):
            found.append(action.per_epoch[1])
    found += _called_twice(code, action.library)
    found += attrcheck.problems(code, {action.library}, set(facts.modules), cancel=cancel)
    return found


def _called_twice(code: str, library: str) -> list[str]:
    calls = attrcheck.library_call_counts(code, {library})
    return [problem for callee, problem in _CALLED_ONCE if calls[callee] > 1]


def _left_to_remove(action: Action, code: str) -> list[str]:
    """What a translation must remove and the code still has, with the lines quoted: a small model
    told only "git-lfs is still called" keeps the one call it did not notice."""
    if action.removes is None:
        return []
    pattern, problem = action.removes
    left = hunks.lines_matching(code, re.compile(pattern))
    return ["still there: " + ", ".join(f"`{line[:100]}`" for line in left[:3]) + f": {problem}"] if left else []


def _dropped_definitions(source: str, code: str, removed: str | None = None) -> list[str]:
    """For names the answer leaves undefined that the original defined, the original line: small
    models drop a statement of the region (``rng = ...``) and cannot find it again from the name alone.
    Not a line the task removes (``lfs_files = repo.git.lfs(...)`` when translating away from git-lfs)."""
    missing = set(validate.undefined_names(code) - validate.undefined_names(source))
    if not missing:
        return []
    hints = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)} & missing
            line = (ast.get_source_segment(source, node) or "").splitlines()
            if names and line and not (removed and re.search(removed, line[0])):
                hints.append(f"the original defines {', '.join(sorted(names))} with `{line[0][:120]}`: keep that statement")
                missing -= names
    return hints[:3]


def _call_bindings(code: str) -> dict[tuple[str, str], str]:
    """(enclosing function or "", name) -> library root module of the call it is assigned from."""
    tree = ast.parse(code)
    roots = attrcheck.import_roots(tree)
    bindings: dict[tuple[str, str], str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if (isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name)
                    and isinstance(child.value, ast.Call)):
                head = child.value.func
                while isinstance(head, (ast.Attribute, ast.Call)):
                    head = head.value if isinstance(head, ast.Attribute) else head.func
                if isinstance(head, ast.Name) and head.id in roots:
                    bindings[(scope, child.targets[0].id)] = roots[head.id]
            visit(child, scope)

    visit(tree, "")
    return bindings


def _rebound_to_library(source: str, code: str, library: str) -> list[str]:
    """A name the script binds to another library's object that the answer binds to the target's
    (``repo = git.Repo.init()`` become ``repo = DvcRepo.init()``): the script's later uses of it are
    then wrong by the dozen; one line names the cause."""
    before, after = _call_bindings(source), _call_bindings(code)
    return [f"`{name}` was a {was} object and the script still uses it as one: keep `{name}` as it was and "
            f"give the {library} object its own name (`{library}_{name}`)"
            for (scope, name), was in before.items() if was != library and after.get((scope, name)) == library]


def _undefined_name_hints(source: str, code: str, example: Example | None = None) -> list[str]:
    """For an undefined name the code assigns in another function only (``dvc_repo`` created in
    ``setup()``, used in ``main()``), where it lives; for one that differs from a defined name in case
    or a character or two (``x`` copied from the example where the script has ``X``), the name meant;
    for one the worked example's adaptation adds (used as there, never created), the example's line."""
    missing = sorted(validate.undefined_names(code) - validate.undefined_names(source))
    if not missing:
        return []
    from_example = {} if example is None else {
        name: line for name, line in _assignment_lines(example.after).items()
        if name not in _assignment_lines(example.before)}  # not the example's own data (`x = ...`)
    tree = ast.parse(code)
    owners: dict[str, set[str]] = {}  # name -> functions that assign it
    users: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}  # name -> functions that read it only
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [node for node in ast.walk(function) if isinstance(node, ast.Name)]
            stored = {node.id for node in names if isinstance(node.ctx, ast.Store)}
            for name in stored:
                owners.setdefault(name, set()).add(function.name)
            for name in {node.id for node in names if isinstance(node.ctx, ast.Load)} - stored:
                users.setdefault(name, []).append(function)
    defined = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                     | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
                     | {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args})
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                  and isinstance(n.value, ast.Name) and n.value.id == "self"}
    imported = set(attrcheck.import_roots(tree)) | {alias.asname or alias.name for n in ast.walk(tree)
                                                    if isinstance(n, ast.ImportFrom) for alias in n.names}
    hints = []
    for name in missing:
        others = [d for d in defined if d != name]
        meant = [d for d in others if d.lower() == name.lower()] or difflib.get_close_matches(name, others, 1, 0.8)
        if name in attributes:  # `repo` in a method of a class that keeps `self.repo`
            hints.append(f"`{name}` is not defined; did you mean `self.{name}`?")
        elif meant:  # first: `x` is also a parameter of some forward(), but the script's data is `X`
            hints.append(f"`{name}` is not defined; did you mean `{meant[0]}`?")
        elif name in owners:
            where = ", ".join(f"{f}()" for f in sorted(owners[name]))
            # A function's own parameters are often what the name stood for (`args.remote` in
            # open_repo(repo_dir, remote_url)).
            have = "; ".join(f"{f.name}() has the parameters {', '.join(a.arg for a in f.args.args)}"
                             for f in users.get(name, []) if f.args.args)
            # The worked example may show how a function that did not create it gets one
            # (`dvc_repo = DvcRepo(repo.working_tree_dir)` in its commit_data()).
            shown = "" if example is None else _assignment_lines(example.after, in_functions=True).get(name, "")
            hints.append(f"`{name}` is assigned only inside {where}, not where it is used: create it there, "
                         f"or pass it as an argument/return it" + (f" ({have})" if have else "")
                         + (f"; a function of the example that did not create it does `{shown}`" if shown else ""))
        elif name in from_example and _reads(from_example[name]) <= set(defined) | _BUILTINS | imported:
            # Only a line that would work here: the example's `data_path = Path(repo.working_tree_dir, path)`
            # reads a parameter `path` the script may not have.
            hints.append(f"`{name}` is used but never created: create it as the example does, `{from_example[name]}`")
    return hints


_BUILTINS = set(dir(builtins))


def _reads(line: str) -> set[str]:
    """The names a one-line statement reads (nothing for a line that does not parse alone)."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _assignment_lines(code: str, in_functions: bool = False) -> dict[str, str]:
    """Name -> the first line of the first plain assignment to it (``x = ...``), module level first
    (or, ``in_functions``, in function bodies only)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    lines: dict[str, str] = {}
    roots = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] if in_functions else [tree]
    for node in (child for root in roots for child in ast.walk(root)):
        target = (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                  else node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None)
        if isinstance(target, ast.Name):
            segment = (ast.get_source_segment(code, node) or "").splitlines()
            if segment:
                lines.setdefault(target.id, segment[0][:120])
    return lines


def _printed_text(call: ast.Call) -> list[str]:
    """The literal text a print call writes (its f-strings' constant parts)."""
    pieces = [node.value for arg in call.args for node in ast.walk(arg)
              if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return [piece.strip() for piece in pieces if piece.strip()]


def _prints(code: str) -> list[ast.Call]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    return sorted(calls, key=lambda call: (call.lineno, call.col_offset))


def _dropped_final_print(source: str, code: str) -> list[str]:
    """The script's last print (its final output line, which users and the bench compare) must stay:
    small models rewriting a script into an objective function leave it out."""
    original = _prints(source)
    text = _printed_text(original[-1]) if original else []
    if not text:
        return []
    wanted = max(text, key=len)
    if any(wanted in piece for call in _prints(code) for piece in _printed_text(call)):
        return []
    line = (ast.get_source_segment(source, original[-1]) or "").splitlines()[0][:120]
    return [f"the script's last output line is gone: keep `{line}` (after the change, the script must still print it last)"]


def _own_body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The nodes of ``function`` outside the functions, lambdas and classes nested in it."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return found


def _values_of_functions_returning_nothing(code: str) -> dict[str, str]:
    """Top-level function -> the first line that uses the value of a call of it, for the functions
    that return no value (no ``return x``, no ``yield``): that value is always None."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    empty = {f.name for f in tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             and not any(isinstance(n, ast.Return) and n.value is not None or isinstance(n, (ast.Yield, ast.YieldFrom))
                         for n in _own_body(f))}
    discarded = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    uses = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                   and n.func.id in empty and id(n) not in discarded), key=lambda n: (n.lineno, n.col_offset))
    found: dict[str, str] = {}
    for call in uses:
        line = code.splitlines()[call.lineno - 1].strip()
        found.setdefault(call.func.id, line)  # type: ignore[attr-defined]
    return found


def _used_value_of_a_function_returning_nothing(source: str, code: str) -> list[str]:
    """Qwen2.5-Coder-1.5B's HPO answers wrap the script in ``train_and_evaluate()`` whose docstring says
    it returns the metric and whose body does not, then ``return float(train_and_evaluate())``: every
    trial fails at run time on ``float(None)``."""
    before = _values_of_functions_returning_nothing(source)
    return [f"`{name}()` returns nothing (it has no `return` with a value), yet `{line}` uses its value: "
            f"end `{name}` with `return` of the value it computes"
            for name, line in _values_of_functions_returning_nothing(code).items() if name not in before]


def _names_bound_only_by_calls(code: str) -> dict[str, str]:
    """Top-level line -> a name it reads that, at that point, only a function not yet called binds
    (``global model`` inside ``train_and_evaluate()``): a NameError when the script runs."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return {}
    functions = {f.name: f for f in tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    binds = {name: {n for node in _own_body(f) if isinstance(node, ast.Global) for n in node.names}
             for name, f in functions.items()}

    def referenced(nodes: list[ast.AST]) -> set[str]:
        """The functions these nodes name, and those they name in turn (``study.optimize(objective)``)."""
        found: set[str] = set()
        todo = [n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in functions]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += [n.id for n in _own_body(functions[name]) if isinstance(n, ast.Name) and n.id in functions]
        return found

    bound: set[str] = set(dir(builtins))
    called: set[str] = set()
    found: dict[str, str] = {}
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(statement.name)
            continue
        nodes = list(ast.walk(statement))
        stores = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        reads = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - stores
        called |= referenced([statement])  # lenient: `main(); print(model)` in one `if __name__ ...` block
        late = sorted(name for name in reads - bound
                      if any(name in names for names in binds.values()) and not any(name in binds[f] for f in called))
        if late:
            line = (ast.get_source_segment(code, statement) or "").splitlines()[0][:120]
            found[line] = late[0]
        bound |= stores
        bound |= {(a.asname or a.name).split(".")[0] for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))
                  for a in n.names}
    return found


def _read_before_a_call_binds_it(source: str, code: str) -> list[str]:
    """Qwen2.5-Coder-1.5B's HPO answers move the training into a function that binds ``model`` with
    ``global`` and keep a top-level line that reads ``model`` before any call of it."""
    before = set(_names_bound_only_by_calls(source).values())
    return [f"`{line}` reads `{name}` before it exists: only a function binds it (`global {name}`), and that "
            f"function has not run yet there; move the line into that function or after its call"
            for line, name in _names_bound_only_by_calls(code).items() if name not in before]


def _apply(answer: Any, edit_format: prompts.EditFormat, module: cst.Module,
           region: regions.Region | None) -> str:
    if edit_format == "search-replace":
        code = apply_search_replace(module.code, parse_search_replace(answer.text, answer.finish_reason))
        return _with_missing_imports(module.code, code)
    code = extract_code(answer.text, answer.finish_reason)
    if edit_format == "whole":
        # The whole file is spliced as the region after the module's header, so that statements
        # the answer leaves out at either end are kept, as in the region format.
        region = regions.body(module)
    if region is not None:
        try:
            code = regions.splice(module, region, code)
        except regions.SpliceError as exc:
            raise AnswerError(str(exc)) from None
    return _with_missing_imports(module.code, code)


def _with_missing_imports(source: str, code: str) -> str:
    """A forgotten ``import os``/``import mlflow`` or a dropped ``max_depth = 4``/``X_train = ...``
    is put back here instead of costing a repair round."""
    if validate.syntax_error(code):
        return code
    missing = set(validate.undefined_names(code) - validate.undefined_names(source))
    if not missing:
        return code
    code = regions.restore_definitions(cst.parse_module(source), code, missing)
    return regions.add_missing_imports(code, missing)


def _copies(answer: str, example: str, source: str) -> bool:
    """Most of the answer's lines come from the example, not from the script."""
    def lines(text: str) -> set[str]:
        return {line.strip() for line in text.splitlines() if len(line.strip()) > 3}
    own = lines(answer) - lines(source)
    return len(own) >= 3 and len(own & lines(example)) > len(own) / 2 and len(lines(answer) & lines(source)) < len(own)


def _share(region: regions.Region, source: str) -> float:
    return (region.last_line - region.first_line + 1) / max(1, len(source.splitlines()))


def _adapt(session: _Session, module: cst.Module, action: Action, facts: DocumentFacts) -> Outcome:
    source = module.code
    edit_format = choose_format(session.options.edit_format, session.backend, action)
    if edit_format == "hunks" and action.rewrites:
        found_hunks = hunks.find(module, re.compile(action.rewrites[0]))
        if found_hunks:
            docs = retrieve_docs(session, action, source, facts.framework)
            session.started = time.monotonic()
            return _HunkTranslation(session, module, found_hunks, action, facts, docs).run()
    elif edit_format == "hunks":
        training = hunks.training(module, action.id)
        guide = prompts.training_guide(action, prompts.example(action, facts.framework)) if training else None
        if training is not None and guide is not None:
            docs = retrieve_docs(session, action, source, facts.framework)
            session.started = time.monotonic()
            return _adapt_training(session, module, training, guide, action, facts, docs)
    if edit_format == "hunks":
        edit_format = "region"  # nothing to rewrite statement by statement: the training's region, as a whole
    region = regions.select(module, action.id) if edit_format == "region" else None
    if edit_format == "region" and (region is None or _share(region, source) > REGION_MAX_SHARE):
        # No region, or one that is most of the file: the whole file costs little more to rewrite,
        # and small models shown most of a file as "a part" tend to hand it back unchanged.
        edit_format, region = "whole", None
    docs = retrieve_docs(session, action, source, facts.framework)
    # options.timeout is for the model: a first-use index build must not eat it.
    session.started = time.monotonic()
    region_lines = region.describe() if region else None
    shown = prompts.example(action, facts.framework)

    def request(shown: Any) -> list[dict[str, str]]:
        return prompts.build(action, source, edit_format=edit_format, region_code=region.code if region else None,
                             region_lines=region_lines, docs=docs, shown=shown, framework=facts.framework)

    first = request(shown)
    expected = region.code if region else source
    messages = first
    found: list[str] = []
    temperature = None  # the options' own
    for attempt in range(session.options.repair_rounds + 1):
        what = "generating" if attempt == 0 else f"repair round {attempt}"
        answer = session.chat(messages, _max_tokens(session, messages, expected), what, attempt, temperature)
        session.check_cancel()
        session.progress(f"{what}: validating")
        try:
            code = _apply(answer, edit_format, module, region)
            code = attrcheck.without_fitted_underscores(code, {action.library}, set(facts.modules),
                                                        cancel=session.cancel)
            found = check(source, code, action, facts, session.cancel)
        except AnswerError as exc:
            found = [str(exc)]
        if not found:
            return Outcome("success", code=code, tokens=session.tokens)
        log.info("%s for %s: %s", what, action.id, "; ".join(found))
        if shown is not None and _copies(answer.text, shown.after, source):
            # It answered the example's script: ask again, without the example.
            log.info("%s for %s: the answer copies the example; asking without it", what, action.id)
            found = ["the answer adapts the example's script, not this one"]
            first = messages = request(shown=None)
            shown = None
            continue
        if found == [UNCHANGED]:
            log.info("%s for %s: the answer is the script unchanged; asking again, hotter", what, action.id)
            messages, temperature = first, max(session.options.temperature, RESAMPLE_TEMPERATURE)
            continue
        temperature = None
        messages = prompts.repair(first, answer.text, found, edit_format, region_lines)
    rounds = session.options.repair_rounds
    return Outcome("failure", reason=f"{found[0]} (after {rounds} repair round{'s' if rounds != 1 else ''})",
                   tokens=session.tokens)


def _dropped_training_lines(training: hunks.Hunk, replacement: hunks.Replacement) -> list[str]:
    """The training lines the replacement no longer has, not even changed a little (a keyword added to
    `model.fit(...)`): an inline action adds to the training, and a small model shown a worked example
    copies the example's simpler loop over the script's (its mini-batches gone)."""
    def lines(code: str) -> list[str]:
        return [line.strip() for line in hunks.code_without_comments(code).splitlines() if line.strip()]

    kept = lines("".join(hunks.statement_code(s) for s in replacement.statements))
    dropped = [line for line in lines(training.code)
               if line not in kept and not difflib.get_close_matches(line, kept, 1, 0.8)]
    if not dropped:
        return []
    quoted = ", ".join(f"`{line[:80]}`" for line in dropped[:3])
    return [f"the training lines lost {quoted}{' and more' if len(dropped) > 3 else ''}: keep every line of the "
            "training as it is and only add to it"]


def _after_training(replacement: hunks.Replacement, training: hunks.Hunk, module: cst.Module) -> hunks.Replacement:
    """An answer that does not train at all is what goes after the training lines (the model logged and
    registered, answered without the lines it was asked to copy), not their replacement."""
    trainers = regions.trainers(module)
    answered = "".join(hunks.statement_code(s) for s in replacement.statements)
    if not replacement.statements or regions.trains(answered, trainers) or not regions.trains(training.code, trainers):
        return replacement
    return hunks.Replacement((*training.statements, *replacement.statements), replacement.imports)


def _adapt_training(session: _Session, module: cst.Module, training: hunks.Hunk, guide: tuple[str, str, str],
                    action: Action, facts: DocumentFacts, docs: str) -> Outcome:
    """An inline action with only the training lines rewritten (:func:`mlops_lsp.hunks.training`):
    the answer replaces them, the rest of the file stays as it is by construction; the result is
    checked as a whole, and what is wrong goes back to the model with its answer."""
    source = module.code
    first = prompts.training_request(action, source, training.code, training.describe(), guide, docs=docs,
                                     framework=facts.framework)
    messages, found, temperature = first, [], None
    for attempt in range(session.options.repair_rounds + 1):
        what = "generating" if attempt == 0 else f"repair round {attempt}"
        answer = session.chat(messages, _max_tokens(session, messages, training.code + guide[2]), what, attempt,
                              temperature)
        session.check_cancel()
        session.progress(f"{what}: validating")
        try:
            replacement = _after_training(hunks.parse_answer(extract_code(answer.text, answer.finish_reason), training),
                                          training, module)
            code = _with_missing_imports(source, hunks.render(module, {0: (training, replacement)}))
            code = attrcheck.without_fitted_underscores(code, {action.library}, set(facts.modules),
                                                        cancel=session.cancel)
            found = check(source, code, action, facts, session.cancel)
            if found != [UNCHANGED]:
                found = _dropped_training_lines(training, replacement) + found
        except AnswerError as exc:
            found = [str(exc)]
        if not found:
            return Outcome("success", code=code, tokens=session.tokens)
        log.info("%s for %s: %s", what, action.id, "; ".join(found))
        if found == [UNCHANGED]:
            log.info("%s for %s: the answer is the lines unchanged; asking again, hotter", what, action.id)
            messages, temperature = first, max(session.options.temperature, RESAMPLE_TEMPERATURE)
            continue
        temperature = None
        messages = prompts.repair(first, answer.text, found, "hunks", None)
    rounds = session.options.repair_rounds
    return Outcome("failure", reason=f"{found[0]} (after {rounds} repair round{'s' if rounds != 1 else ''})",
                   tokens=session.tokens)


def _hunk_problems(current: str, candidate: str, replacement: hunks.Replacement, action: Action,
                   facts: DocumentFacts, shown: Example | None, cancel: threading.Event | None) -> list[str]:
    """What is wrong with ``candidate``, the code with one more hunk replaced, that ``current`` did
    not have: the problems this replacement brings."""
    assert action.rewrites is not None and action.removes is not None
    found = [p for p in validate.problems(current, candidate) if not p.endswith("original code lines were removed")]
    if found and found[0].startswith("the adapted code does not parse"):
        return found
    replaced = "".join(hunks.statement_code(s) for s in replacement.statements)
    found += _left_to_remove(action, replaced)
    found += _undefined_name_hints(current, candidate, shown)
    found += [p for p in _called_twice(candidate, action.library) if p not in _called_twice(current, action.library)]
    found += [p for p in _rebound_to_library(current, candidate, action.library)
              if p not in _rebound_to_library(current, current, action.library)]
    before = set(attrcheck.problems(current, {action.library}, set(facts.modules), cancel=cancel))
    found += [p for p in attrcheck.problems(candidate, {action.library}, set(facts.modules), cancel=cancel)
              if p not in before]
    return found


@dataclass
class _HunkTranslation:
    """A translation one hunk at a time (:mod:`mlops_lsp.hunks`), those that use the old library
    first. Each request shows the script with the hunks done so far already rewritten; each
    replacement is checked in place and repaired on its own; then the whole result is checked as
    any answer is, and what it still lacks goes back to the hunk it concerns."""

    session: _Session
    module: cst.Module
    found: list[hunks.Hunk]
    action: Action
    facts: DocumentFacts
    docs: str
    done: dict[int, tuple[hunks.Hunk, hunks.Replacement]] = field(default_factory=dict)
    answers: dict[int, str] = field(default_factory=dict)

    def code(self, done: dict[int, tuple[hunks.Hunk, hunks.Replacement]] | None = None) -> str:
        return _with_missing_imports(self.module.code, hunks.render(self.module, self.done if done is None else done))

    def request(self, index: int) -> list[dict[str, str]]:
        hunk = self.found[index]
        others = {i: r for i, r in self.done.items() if i != index}
        return prompts.hunk_request(self.action, self.code(others), hunk.code, hunk.describe(), docs=self.docs,
                                    shown=prompts.example(self.action, self.facts.framework),
                                    framework=self.facts.framework)

    def problems(self, index: int, replacement: hunks.Replacement) -> list[str]:
        """What the replacement of hunk ``index`` brings that the code without it did not have, and
        what it no longer works on (the labels file of `git add features labels`, the branch of
        `branch.checkout()`)."""
        hunk = self.found[index]
        others = {i: r for i, r in self.done.items() if i != index}
        current, candidate = self.code(others), self.code({**others, index: (hunk, replacement)})
        found = _hunk_problems(current, candidate, replacement, self.action, self.facts,
                               prompts.example(self.action, self.facts.framework), self.session.cancel)
        missing = hunk.operands_missing_from(replacement)
        if missing and replacement.statements:
            operands = hunk.operands()
            found.append(f"your replacement leaves out {', '.join(f'`{m}`' for m in missing)}: these lines worked on "
                         + (" and ".join(f"`{o}`" for o in operands) + ", do with "
                            f"{self.action.library} what they did with each of them" if len(operands) > 1 else
                            f"`{operands[0]}`, do with {self.action.library} what they did with it"))
        return found

    def read(self, index: int, answer: Any) -> tuple[hunks.Replacement, list[str]]:
        """The replacement in ``answer`` and its problems. A small model asked for a few lines may
        answer with two blocks, the lines it expects before or after and the answer, in either order:
        the first block without problems is taken, else the first one."""
        hunk, others = self.found[index], {i: r for i, r in self.done.items() if i != index}
        first: tuple[hunks.Replacement, list[str]] | None = None
        blocks = code_blocks(answer.text, answer.finish_reason)
        # Each block, then the blocks joined from each one on: one block per data file is common,
        # after a first block that repeats the setup.
        joined = ["".join(blocks[i:]) for i in range(len(blocks) - 1)] if len(blocks) > 1 else []
        for code in [*blocks, *joined]:
            try:
                replacement = hunks.parse_answer(code, hunk, others)
            except AnswerError as exc:
                if first is None:
                    first = (hunks.Replacement((), ()), [str(exc)])
                continue
            problems = self.problems(index, replacement)
            if not problems:
                return replacement, []
            first = first or (replacement, problems)
        assert first is not None  # code_blocks raises when there is no block
        return first

    def ask(self, index: int, problems: list[str], rounds: int) -> list[str]:
        """Ask for hunk ``index`` (again, with ``problems``, when it has an answer) until its
        replacement brings no problem, for at most ``rounds`` + 1 answers; the problems left."""
        assert self.action.rewrites is not None
        hunk, first = self.found[index], self.request(index)
        messages = prompts.repair(first, self.answers[index], problems, "hunks", None) if problems else first
        asked_unchanged = False
        seen: set[str] = set()
        temperature = None  # the options' own
        for attempt in range(rounds + 1):
            what = f"part {index + 1} of {len(self.found)}" + (f", round {attempt + 1}" if attempt or problems else "")
            # A repair round must not redraw the answer it repairs.
            answer = self.session.chat(messages, _max_tokens(self.session, messages, hunk.code), what,
                                       attempt + (1 if problems else 0), temperature)
            self.session.check_cancel()
            if answer.text in seen:
                # The same answer again: shown its own answer and the problem, a small model repeats
                # itself; the request is drawn again, fresh and hotter.
                log.info("%s for %s: the same answer again; asking again, hotter", what, self.action.id)
                messages, temperature = first, max(self.session.options.temperature, RESAMPLE_TEMPERATURE)
                continue
            seen.add(answer.text)
            temperature = None
            try:
                replacement, problems = self.read(index, answer)
                if not problems and replacement.same_as(hunk) and not asked_unchanged:
                    # Lines that only add files to git may need no change: asked once, the model decides.
                    asked_unchanged = True
                    problems = [f"these lines are unchanged, but they {self.action.rewrites[1]}: rewrite them for "
                                f"{self.action.library} as the example does; only if they need no change, return "
                                "them as they are"]
                if not problems:
                    self.done[index], self.answers[index] = (hunk, replacement), answer.text
                    return []
            except AnswerError as exc:
                problems = [str(exc)]
            log.info("%s for %s: %s", what, self.action.id, "; ".join(problems))
            messages = prompts.repair(first, answer.text, problems, "hunks", None)
        return problems

    def concerned(self, problems: list[str]) -> int:
        """The hunk a problem of the whole result most likely concerns: for an unmet requirement, the
        first hunk whose original code met it and whose replacement does not (the data added to git
        is no longer added anywhere); else the one whose replacement holds most of the code the
        problems quote (`dvc_repo.add(path)`); else the last one."""
        assert self.action.removes is not None
        # Hunks that only did what the requirement asks (`repo.git.add(data)`) before those that also
        # set up the old library (`git lfs install` ... `git add .gitattributes`).
        order = sorted(self.done, key=lambda i: (self.found[i].matches(self.action.removes[0]), i))
        for pattern, problem in self.action.requires:
            if problem in problems:
                for index in order:
                    replaced = "".join(hunks.statement_code(s) for s in self.done[index][1].statements)
                    if self.found[index].matches(pattern) and not re.search(pattern, replaced):
                        return index
        quoted = [q for p in problems for q in re.findall(r"`([^`]+)`", p)]
        words = {w for q in quoted for w in re.findall(r"[A-Za-z_][\w.]*\(", q)}  # calls: `path` is everywhere

        def score(index: int) -> int:
            text = "".join(hunks.statement_code(s) for s in self.done[index][1].statements)
            return sum(w in text for w in words)

        return max(reversed(sorted(self.done)), key=score)

    def run(self) -> Outcome:
        rounds = self.session.options.repair_rounds
        assert self.action.removes is not None
        # The old library's own calls first (its setup: where the new one is set up), then the lines
        # that only add files: a model shown `git add` in a helper before the `git lfs install` in
        # main() creates the DVC repository in the helper and opens it in main(), too late.
        order = sorted(range(len(self.found)), key=lambda i: (not self.found[i].matches(self.action.removes[0]), i))
        for index in order:
            hunk = self.found[index]
            left = self.ask(index, [], rounds)
            if left:
                line = hunk.code.strip().splitlines()[-1].strip()
                return Outcome("failure", reason=f"`{line[:80]}`: {left[0]} (after {rounds} repair rounds)",
                               tokens=self.session.tokens)
        source = self.module.code
        for attempt in range(rounds + 1):
            code = self.code()
            problems = check(source, code, self.action, self.facts, self.session.cancel)
            if not problems:
                return Outcome("success", code=code, tokens=self.session.tokens)
            log.info("translation of %s: %s", self.action.id, "; ".join(problems))
            if attempt < rounds:
                self.ask(self.concerned(problems), problems, 0)
        return Outcome("failure", reason=f"{problems[0]} (after {rounds} repair rounds)", tokens=self.session.tokens)


def run(tree: cst.Module, action: Action, facts: DocumentFacts, options: Options, *,
        cancel: threading.Event | None = None, progress: Progress | None = None) -> Outcome:
    """Adapt the parsed module with the model named by ``options.model``. Never raises."""
    if not options.model:
        return Outcome("skip", reason="no model configured (set the `model` option to use the model engine)")
    model_error = _model_error()
    try:
        backend = _load_backend(options.model)
    except model_error as exc:
        return Outcome("failure", reason=f"model error: {_one_line(exc)}")
    return run_with_backend(backend, tree, action, facts, options, cancel=cancel, progress=progress)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def run_with_backend(backend: Any, tree: cst.Module, action: Action, facts: DocumentFacts, options: Options, *,
                     cancel: threading.Event | None = None, progress: Progress | None = None) -> Outcome:
    """:func:`run` with a backend object (the recorder wraps the real one). Never raises."""
    session = _Session(backend, options, cancel, progress or (lambda _message: None))
    try:
        return _adapt(session, tree, action, facts)
    except Cancelled:
        return Outcome("failure", reason="cancelled", tokens=session.tokens)
    except _model_error() as exc:
        return Outcome("failure", reason=f"model error: {_one_line(exc)}", tokens=session.tokens)
    except Exception as exc:  # an engine bug must not take the editor down: report it
        log.error("model engine failed:\n%s", traceback.format_exc())
        return Outcome("failure", reason=f"model engine failed: {type(exc).__name__}: {_one_line(exc)}",
                       tokens=session.tokens)
