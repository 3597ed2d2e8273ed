"""translate.gitpython-dvc: GitPython + git-lfs data versioning rewritten to DVC's Python API.

Which files are data is decided where git-lfs decided it: by the ``git lfs track`` patterns. They
may be computed at run time (a loop over a config list), so they are kept as data
(``DVC_DATA_PATTERNS``) and a small helper routes every ``git add``: files matching a pattern go
through ``DvcRepo.add`` and git gets their ``.dvc`` and ``.gitignore`` files; everything else is
added to git as before. ``git lfs install`` becomes ``DvcRepo.init`` with a local default remote,
re-pointed next to the git remote when the script creates one, and DVC pushes where git pushes
(right after each add when the script never pushes). Every other git operation is kept.
"""

from __future__ import annotations

import re

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, fast_visit, find_calls

_LFS_WORDS = re.compile(r"git[- ]lfs|\blfs\b", re.I)

HELPERS = '''
# Data files are versioned with DVC: git keeps their small .dvc files, DVC keeps the data in its
# cache and in a local default remote. The patterns are those git-lfs tracked.
DVC_DATA_PATTERNS: list[str] = []
DVC_PUSH_ON_ADD = {push_on_add}


def dvc_use_remote(repo, storage) -> None:
    """Make the local directory ``storage`` DVC's default remote, and stage DVC's config in git."""
    Path(storage).mkdir(parents=True, exist_ok=True)
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        with dvc_repo.config.edit() as config:
            config["remote"]["storage"] = {{"url": str(Path(storage).resolve())}}
            config["core"]["remote"] = "storage"
    repo.git.add(".dvc/config", ".dvc/.gitignore", ".dvcignore")


def dvc_init(repo) -> None:
    """DVC next to the git repository, with a storage directory beside the working tree."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        return  # already a DVC repository (a clone): keep its remote
    DvcRepo.init(repo.working_tree_dir).close()
    dvc_use_remote(repo, f"{{Path(repo.working_tree_dir).resolve()}}.dvc-storage")


def dvc_use_git_remote(repo, url) -> None:
    """A git remote that is a local path gets its DVC storage beside it."""
    location = str(url).removeprefix("file://")
    if "://" not in location and ":" not in location.split("/")[0]:
        dvc_use_remote(repo, f"{{Path(location).resolve()}}.dvc-storage")


def dvc_is_data(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative if "/" in pattern else name, pattern.lstrip("/")) for pattern in DVC_DATA_PATTERNS
    )


def dvc_add(repo, *paths) -> None:
    """``git add`` the paths; data files among them are added to DVC and git gets their .dvc files."""
    root = Path(repo.working_tree_dir).resolve()
    flat = [str(p) for item in paths for p in (item if isinstance(item, (list, tuple)) else [item])]
    data, to_git = [], []
    for path in flat:
        full = (root / path).resolve()
        candidates = [p for p in full.rglob("*") if p.is_file()] if full.is_dir() else [full]
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if relative.split("/")[0] not in (".git", ".dvc") and dvc_is_data(relative):
                data.append(relative)
        if not (full.is_file() and full.relative_to(root).as_posix() in data):
            to_git.append(path)
    if data:
        with DvcRepo(str(root)) as dvc_repo:
            dvc_repo.add([str(root / relative) for relative in data])
            if DVC_PUSH_ON_ADD:
                dvc_repo.push()
        for relative in data:
            folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
            to_git += [f"{{relative}}.dvc", f"{{folder}}.gitignore"]
    if to_git:
        repo.git.add(*to_git)


def dvc_checkout(repo) -> None:
    """git checkout only swaps the .dvc files: bring the matching data into the workspace."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.checkout()


def dvc_pull(repo) -> None:
    """After git brings new .dvc files (clone, pull), bring their data from the DVC remote."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.pull()


def dvc_push(repo) -> None:
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        dvc_repo.push()
'''


def _lfs_call(call: cst.Call) -> str | None:
    """The receiver (source) of ``<repo>.git.lfs(...)``."""
    if m.matches(call.func, m.Attribute(value=m.Attribute(attr=m.Name("git")), attr=m.Name("lfs"))):
        return cst.Module(body=[]).code_for_node(call.func.value.value)
    return None


def _subcommand(call: cst.Call) -> str | None:
    if call.args and isinstance(call.args[0].value, cst.SimpleString):
        return call.args[0].value.evaluated_value
    return None


def _git_add_receiver(call: cst.Call) -> cst.BaseExpression | None:
    """The repository of ``repo.git.add(...)`` or ``repo.index.add([...])``."""
    if m.matches(
        call.func, m.Attribute(value=m.Attribute(attr=m.Name("git") | m.Name("index")), attr=m.Name("add"))
    ):
        return call.func.value.value
    return None


def _is_gitattributes(arg: cst.Arg) -> bool:
    return isinstance(arg.value, cst.SimpleString) and str(arg.value.evaluated_value).endswith(".gitattributes")


class _Translate(cst.CSTTransformer):
    """git-lfs calls -> DVC helpers, ``git add`` -> ``dvc_add``, LFS wording -> DVC wording."""

    def __init__(self) -> None:
        super().__init__()
        self._dropped: set[int] = set()  # statements removed by their block, which keeps their comments

    # statements -------------------------------------------------------------------------------
    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1:
            return updated_node
        small = updated_node.body[0]
        call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
        if not isinstance(call, cst.Call):
            return updated_node
        repo = _lfs_call(call)
        if repo is not None and isinstance(small, cst.Expr):
            command = _subcommand(call)
            if command == "install":
                return updated_node.with_changes(body=[cst.Expr(cst.parse_expression(f"dvc_init({repo})"))])
            if command == "track":
                patterns = [cst.Module(body=[]).code_for_node(a.value) for a in call.args[1:]]
                added = f"append({patterns[0]})" if len(patterns) == 1 else f"extend([{', '.join(patterns)}])"
                return updated_node.with_changes(body=[cst.Expr(cst.parse_expression(f"DVC_DATA_PATTERNS.{added}"))])
            if command == "push":
                return updated_node.with_changes(body=[cst.Expr(cst.parse_expression(f"dvc_push({repo})"))])
            if command in ("pull", "fetch", "checkout"):
                return updated_node.with_changes(body=[cst.Expr(cst.parse_expression(f"dvc_pull({repo})"))])
            raise SkipFile(f"unsupported git lfs command {command!r}")
        receiver = _git_add_receiver(call)
        if receiver is not None and isinstance(small, cst.Expr):
            keywords = {arg.keyword.value for arg in call.args if arg.keyword}
            if keywords - {"A", "all", "write"}:
                raise SkipFile(f"git add with options {sorted(keywords)} is not translated")
            kept = [arg for arg in call.args if not _is_gitattributes(arg) and not arg.keyword]
            if keywords & {"A", "all"}:
                kept.append(cst.Arg(cst.SimpleString('"."')))  # `git add -A`: everything in the work tree
            repo = cst.Module(body=[]).code_for_node(receiver)
            args = ", ".join(cst.Module(body=[]).code_for_node(a.value if not a.star else a) for a in kept)
            if not kept:
                # only .gitattributes: DVC's config is staged by dvc_init. The enclosing block removes
                # the line, so that the comments around it move to the next statement.
                self._dropped.add(id(updated_node))
                return updated_node
            return updated_node.with_changes(body=[cst.Expr(cst.parse_expression(f"dvc_add({repo}, {args})"))])
        return updated_node

    def leave_IndentedBlock(self, original_node, updated_node):
        return self._drop_keeping_comments(updated_node)

    def leave_Module(self, original_node, updated_node):
        return self._drop_keeping_comments(updated_node)

    def _drop_keeping_comments(self, block):
        if not any(id(statement) in self._dropped for statement in block.body):
            return block
        body, carried = [], []
        for statement in block.body:
            if id(statement) in self._dropped:
                carried.extend(line for line in statement.leading_lines if line.comment is not None)
                comment = statement.trailing_whitespace.comment
                if comment is not None:
                    carried.append(cst.EmptyLine(comment=comment))
                continue
            if carried:
                statement = statement.with_changes(leading_lines=[*carried, *statement.leading_lines])
                carried = []
            body.append(statement)
        return block.with_changes(body=body, footer=[*carried, *block.footer])

    def leave_Call(self, original_node, updated_node):
        repo = _lfs_call(updated_node)
        if repo is not None and _subcommand(updated_node) == "ls-files":
            # the same quotes as the original argument: the call may sit inside an f-string
            quote = updated_node.args[0].value.quote
            return updated_node.with_changes(
                func=updated_node.func.with_changes(attr=cst.Name("ls_files")),
                args=[cst.Arg(cst.SimpleString(f"{quote}*.dvc{quote}"))],
            )
        return updated_node

    # strings and comments: the wording follows the code -------------------------------------
    def leave_SimpleString(self, original_node, updated_node):
        return updated_node.with_changes(value=_dvc_wording(updated_node.value))

    def leave_FormattedStringText(self, original_node, updated_node):
        return updated_node.with_changes(value=_dvc_wording(updated_node.value))

    def leave_Comment(self, original_node, updated_node):
        return updated_node.with_changes(value=_dvc_wording(updated_node.value))


def _dvc_wording(text: str) -> str:
    return _LFS_WORDS.sub("DVC", text)


class _PushAndRemotes(cst.CSTTransformer):
    """``dvc_push`` before each git push, ``dvc_checkout`` after each checkout, ``dvc_use_git_remote``
    after each ``create_remote``."""

    def __init__(self, remote_names: set[str]) -> None:
        super().__init__()
        self.remote_names = remote_names

    def leave_SimpleStatementLine(self, original_node, updated_node):
        for small in updated_node.body:
            call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
            if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
                continue
            code = cst.Module(body=[]).code_for_node
            method, receiver = call.func.attr.value, call.func.value
            is_remote = code(receiver) in self.remote_names or _is_remote_expression(receiver)
            if method == "push" and is_remote:
                return cst.FlattenSentinel([cst.parse_statement(f"dvc_push({code(receiver)}.repo)"), updated_node])
            if method == "push" and m.matches(receiver, m.Attribute(attr=m.Name("git"))):
                return cst.FlattenSentinel([cst.parse_statement(f"dvc_push({code(receiver.value)})"), updated_node])
            if method == "pull" and is_remote:
                return cst.FlattenSentinel([updated_node, cst.parse_statement(f"dvc_pull({code(receiver)}.repo)")])
            if method == "pull" and m.matches(receiver, m.Attribute(attr=m.Name("git"))):
                return cst.FlattenSentinel([updated_node, cst.parse_statement(f"dvc_pull({code(receiver.value)})")])
            if method == "clone_from" and isinstance(small, cst.Assign) and len(small.targets) == 1:
                clone = code(small.targets[0].target)
                return cst.FlattenSentinel([updated_node, cst.parse_statement(f"dvc_pull({clone})")])
            if method == "checkout" and m.matches(receiver, m.Attribute(attr=m.Name("git"))):
                return cst.FlattenSentinel([updated_node, cst.parse_statement(f"dvc_checkout({code(receiver.value)})")])
            if method == "checkout" and (m.matches(receiver, m.Name()) or m.matches(receiver, m.Attribute())):
                # a GitPython Head (branch.checkout()): it knows its repository
                return cst.FlattenSentinel([updated_node, cst.parse_statement(f"dvc_checkout({code(receiver)}.repo)")])
            if method == "create_remote" and len(call.args) >= 2:
                url = code(call.args[1].value)
                return cst.FlattenSentinel(
                    [updated_node, cst.parse_statement(f"dvc_use_git_remote({code(receiver)}, {url})")]
                )
        return updated_node


def _is_remote_expression(node: cst.BaseExpression) -> bool:
    """``repo.remotes.origin``, ``repo.remotes["origin"]``, ``repo.remote(...)``."""
    return (
        m.matches(node, m.Attribute(value=m.Attribute(attr=m.Name("remotes"))))
        or m.matches(node, m.Subscript(value=m.Attribute(attr=m.Name("remotes"))))
        or m.matches(node, m.Call(func=m.Attribute(attr=m.Name("remote") | m.Name("create_remote"))))
    )


def _remote_names(tree: cst.Module) -> set[str]:
    """Names bound to GitPython remotes: ``x = repo.remote(...)``, ``repo.create_remote(...)``, ``repo.remotes.origin``."""
    names: set[str] = set()
    code = cst.Module(body=[]).code_for_node

    class Visitor(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            value = node.value
            is_remote = (
                isinstance(value, cst.Call)
                and m.matches(value.func, m.Attribute(attr=m.Name("remote") | m.Name("create_remote")))
            ) or m.matches(value, m.Attribute(value=m.Attribute(attr=m.Name("remotes")))) or m.matches(
                value, m.Subscript(value=m.Attribute(attr=m.Name("remotes")))
            )
            if is_remote and len(node.targets) == 1:
                names.add(code(node.targets[0].target))

    fast_visit(tree, Visitor())
    return names


class GitPythonToDvc(ActionCodemod):
    """Rewrite git-lfs data versioning done with GitPython to DVC's Python API."""

    ACTION = "translate.gitpython-dvc"
    FRAMEWORKS = ("gitpython",)
    DESCRIPTION = "Translate GitPython + git-lfs data versioning to DVC"

    EXAMPLES = [
        Example(before='''\
from pathlib import Path

import git

repo = git.Repo.init("data-repo")
repo.git.lfs("install", "--local")
repo.git.lfs("track", "*.csv")
Path("data-repo/table.csv").write_text("a,b\\n1,2\\n")
# LFS stores the CSV; git keeps a pointer
repo.git.add(".gitattributes", "table.csv")
repo.index.commit("Add table")
print(f"LFS files: {repo.git.lfs('ls-files')}")
''', after='''\
from pathlib import Path

import git
import fnmatch
from dvc.repo import Repo as DvcRepo

DVC_DATA_PATTERNS: list[str] = []
DVC_PUSH_ON_ADD = True


def dvc_use_remote(repo, storage) -> None:
    """Make the local directory ``storage`` DVC's default remote, and stage DVC's config in git."""
    Path(storage).mkdir(parents=True, exist_ok=True)
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        with dvc_repo.config.edit() as config:
            config["remote"]["storage"] = {"url": str(Path(storage).resolve())}
            config["core"]["remote"] = "storage"
    repo.git.add(".dvc/config", ".dvc/.gitignore", ".dvcignore")


def dvc_init(repo) -> None:
    """DVC next to the git repository, with a storage directory beside the working tree."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        return  # already a DVC repository (a clone): keep its remote
    DvcRepo.init(repo.working_tree_dir).close()
    dvc_use_remote(repo, f"{Path(repo.working_tree_dir).resolve()}.dvc-storage")


def dvc_use_git_remote(repo, url) -> None:
    """A git remote that is a local path gets its DVC storage beside it."""
    location = str(url).removeprefix("file://")
    if "://" not in location and ":" not in location.split("/")[0]:
        dvc_use_remote(repo, f"{Path(location).resolve()}.dvc-storage")


def dvc_is_data(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative if "/" in pattern else name, pattern.lstrip("/")) for pattern in DVC_DATA_PATTERNS
    )


def dvc_add(repo, *paths) -> None:
    """``git add`` the paths; data files among them are added to DVC and git gets their .dvc files."""
    root = Path(repo.working_tree_dir).resolve()
    flat = [str(p) for item in paths for p in (item if isinstance(item, (list, tuple)) else [item])]
    data, to_git = [], []
    for path in flat:
        full = (root / path).resolve()
        candidates = [p for p in full.rglob("*") if p.is_file()] if full.is_dir() else [full]
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if relative.split("/")[0] not in (".git", ".dvc") and dvc_is_data(relative):
                data.append(relative)
        if not (full.is_file() and full.relative_to(root).as_posix() in data):
            to_git.append(path)
    if data:
        with DvcRepo(str(root)) as dvc_repo:
            dvc_repo.add([str(root / relative) for relative in data])
            if DVC_PUSH_ON_ADD:
                dvc_repo.push()
        for relative in data:
            folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
            to_git += [f"{relative}.dvc", f"{folder}.gitignore"]
    if to_git:
        repo.git.add(*to_git)


def dvc_checkout(repo) -> None:
    """git checkout only swaps the .dvc files: bring the matching data into the workspace."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.checkout()


def dvc_pull(repo) -> None:
    """After git brings new .dvc files (clone, pull), bring their data from the DVC remote."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.pull()


def dvc_push(repo) -> None:
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        dvc_repo.push()

repo = git.Repo.init("data-repo")
dvc_init(repo)
DVC_DATA_PATTERNS.append("*.csv")
Path("data-repo/table.csv").write_text("a,b\\n1,2\\n")
# DVC stores the CSV; git keeps a pointer
dvc_add(repo, "table.csv")
repo.index.commit("Add table")
print(f"DVC files: {repo.git.ls_files('*.dvc')}")
'''),
        Example(before='''\
import git


def publish(repo_dir, remote_url, paths):
    repo = git.Repo(repo_dir)
    repo.git.lfs("install")
    for pattern in ("*.npy", "raw/*.parquet"):
        repo.git.lfs("track", pattern)
    origin = repo.create_remote("origin", remote_url)
    repo.git.add(*paths)
    repo.index.commit("Publish data")
    repo.create_tag("data-v1")
    origin.push(refspec="refs/heads/main:refs/heads/main")
    origin.push(tags=True)
''', after='''\
import git
import fnmatch
from dvc.repo import Repo as DvcRepo
from pathlib import Path

DVC_DATA_PATTERNS: list[str] = []
DVC_PUSH_ON_ADD = False


def dvc_use_remote(repo, storage) -> None:
    """Make the local directory ``storage`` DVC's default remote, and stage DVC's config in git."""
    Path(storage).mkdir(parents=True, exist_ok=True)
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        with dvc_repo.config.edit() as config:
            config["remote"]["storage"] = {"url": str(Path(storage).resolve())}
            config["core"]["remote"] = "storage"
    repo.git.add(".dvc/config", ".dvc/.gitignore", ".dvcignore")


def dvc_init(repo) -> None:
    """DVC next to the git repository, with a storage directory beside the working tree."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        return  # already a DVC repository (a clone): keep its remote
    DvcRepo.init(repo.working_tree_dir).close()
    dvc_use_remote(repo, f"{Path(repo.working_tree_dir).resolve()}.dvc-storage")


def dvc_use_git_remote(repo, url) -> None:
    """A git remote that is a local path gets its DVC storage beside it."""
    location = str(url).removeprefix("file://")
    if "://" not in location and ":" not in location.split("/")[0]:
        dvc_use_remote(repo, f"{Path(location).resolve()}.dvc-storage")


def dvc_is_data(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative if "/" in pattern else name, pattern.lstrip("/")) for pattern in DVC_DATA_PATTERNS
    )


def dvc_add(repo, *paths) -> None:
    """``git add`` the paths; data files among them are added to DVC and git gets their .dvc files."""
    root = Path(repo.working_tree_dir).resolve()
    flat = [str(p) for item in paths for p in (item if isinstance(item, (list, tuple)) else [item])]
    data, to_git = [], []
    for path in flat:
        full = (root / path).resolve()
        candidates = [p for p in full.rglob("*") if p.is_file()] if full.is_dir() else [full]
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if relative.split("/")[0] not in (".git", ".dvc") and dvc_is_data(relative):
                data.append(relative)
        if not (full.is_file() and full.relative_to(root).as_posix() in data):
            to_git.append(path)
    if data:
        with DvcRepo(str(root)) as dvc_repo:
            dvc_repo.add([str(root / relative) for relative in data])
            if DVC_PUSH_ON_ADD:
                dvc_repo.push()
        for relative in data:
            folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
            to_git += [f"{relative}.dvc", f"{folder}.gitignore"]
    if to_git:
        repo.git.add(*to_git)


def dvc_checkout(repo) -> None:
    """git checkout only swaps the .dvc files: bring the matching data into the workspace."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.checkout()


def dvc_pull(repo) -> None:
    """After git brings new .dvc files (clone, pull), bring their data from the DVC remote."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.pull()


def dvc_push(repo) -> None:
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        dvc_repo.push()


def publish(repo_dir, remote_url, paths):
    repo = git.Repo(repo_dir)
    dvc_init(repo)
    for pattern in ("*.npy", "raw/*.parquet"):
        DVC_DATA_PATTERNS.append(pattern)
    origin = repo.create_remote("origin", remote_url)
    dvc_use_git_remote(repo, remote_url)
    dvc_add(repo, *paths)
    repo.index.commit("Publish data")
    repo.create_tag("data-v1")
    dvc_push(origin.repo)
    origin.push(refspec="refs/heads/main:refs/heads/main")
    dvc_push(origin.repo)
    origin.push(tags=True)
'''),
        # The comments around a removed `git add .gitattributes` move to the next statement.
        Example(before='''\
import git

repo = git.Repo.init("data-repo")
repo.git.lfs("install")
repo.git.lfs("track", "*.csv")
# stage the LFS attributes
repo.git.add(".gitattributes")  # git-lfs needs them committed
repo.git.add("data.csv")
repo.index.commit("add data")
''', after='''\
import git
import fnmatch
from dvc.repo import Repo as DvcRepo
from pathlib import Path

DVC_DATA_PATTERNS: list[str] = []
DVC_PUSH_ON_ADD = True


def dvc_use_remote(repo, storage) -> None:
    """Make the local directory ``storage`` DVC's default remote, and stage DVC's config in git."""
    Path(storage).mkdir(parents=True, exist_ok=True)
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        with dvc_repo.config.edit() as config:
            config["remote"]["storage"] = {"url": str(Path(storage).resolve())}
            config["core"]["remote"] = "storage"
    repo.git.add(".dvc/config", ".dvc/.gitignore", ".dvcignore")


def dvc_init(repo) -> None:
    """DVC next to the git repository, with a storage directory beside the working tree."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        return  # already a DVC repository (a clone): keep its remote
    DvcRepo.init(repo.working_tree_dir).close()
    dvc_use_remote(repo, f"{Path(repo.working_tree_dir).resolve()}.dvc-storage")


def dvc_use_git_remote(repo, url) -> None:
    """A git remote that is a local path gets its DVC storage beside it."""
    location = str(url).removeprefix("file://")
    if "://" not in location and ":" not in location.split("/")[0]:
        dvc_use_remote(repo, f"{Path(location).resolve()}.dvc-storage")


def dvc_is_data(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative if "/" in pattern else name, pattern.lstrip("/")) for pattern in DVC_DATA_PATTERNS
    )


def dvc_add(repo, *paths) -> None:
    """``git add`` the paths; data files among them are added to DVC and git gets their .dvc files."""
    root = Path(repo.working_tree_dir).resolve()
    flat = [str(p) for item in paths for p in (item if isinstance(item, (list, tuple)) else [item])]
    data, to_git = [], []
    for path in flat:
        full = (root / path).resolve()
        candidates = [p for p in full.rglob("*") if p.is_file()] if full.is_dir() else [full]
        for candidate in candidates:
            relative = candidate.relative_to(root).as_posix()
            if relative.split("/")[0] not in (".git", ".dvc") and dvc_is_data(relative):
                data.append(relative)
        if not (full.is_file() and full.relative_to(root).as_posix() in data):
            to_git.append(path)
    if data:
        with DvcRepo(str(root)) as dvc_repo:
            dvc_repo.add([str(root / relative) for relative in data])
            if DVC_PUSH_ON_ADD:
                dvc_repo.push()
        for relative in data:
            folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
            to_git += [f"{relative}.dvc", f"{folder}.gitignore"]
    if to_git:
        repo.git.add(*to_git)


def dvc_checkout(repo) -> None:
    """git checkout only swaps the .dvc files: bring the matching data into the workspace."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.checkout()


def dvc_pull(repo) -> None:
    """After git brings new .dvc files (clone, pull), bring their data from the DVC remote."""
    if Path(repo.working_tree_dir, ".dvc").is_dir():
        with DvcRepo(repo.working_tree_dir) as dvc_repo:
            dvc_repo.pull()


def dvc_push(repo) -> None:
    with DvcRepo(repo.working_tree_dir) as dvc_repo:
        dvc_repo.push()

repo = git.Repo.init("data-repo")
dvc_init(repo)
DVC_DATA_PATTERNS.append("*.csv")
# stage the DVC attributes
# DVC needs them committed
dvc_add(repo, "data.csv")
repo.index.commit("add data")
'''),
    ]

    DECLINES = [
        Decline(
            source='''\
import git
from dvc.repo import Repo

repo = git.Repo.init("data")
Repo.init("data")
''',
            reason="already uses DVC",
        ),
        Decline(
            source='''\
import git

repo = git.Repo.init("data")
repo.index.add(["README.md"])
repo.index.commit("docs")
''',
            reason="no git-lfs",
        ),
        Decline(
            source='''\
import git

repo = git.Repo.init("data")
repo.git.lfs("install")
repo.git.lfs("migrate", "import", "--include=*.csv")
''',
            reason="unsupported git lfs command 'migrate'",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("dvc"):
            raise SkipFile("the script already uses DVC")
        if not imports.uses("git"):
            raise SkipFile("the script does not use GitPython")
        lfs_calls = find_calls(tree, lambda call: _lfs_call(call) is not None)
        if not lfs_calls:
            raise SkipFile("no git-lfs use (repo.git.lfs(...)) to translate")
        if not any(_subcommand(site.call) == "install" for site in lfs_calls):
            raise SkipFile("git lfs is used without 'git lfs install': no place to initialise DVC")
        _decline_lfs_commands(tree)
        remotes = _remote_names(tree)
        has_git_push = bool(
            find_calls(tree, lambda call: m.matches(call.func, m.Attribute(attr=m.Name("push"))))
        )
        translated = tree.visit(_Translate()).visit(_PushAndRemotes(remotes))
        residue = _LFS_WORDS.search(_code_without_comments(translated))
        if residue:
            raise SkipFile("git-lfs use remains that this codemod does not translate")
        helpers = cst.parse_module(HELPERS.format(push_on_add=not has_git_push)).body
        translated = _insert_after_imports(translated, list(helpers))
        for module, name in (("fnmatch", None), ("pathlib", "Path")):
            AddImportsVisitor.add_needed_import(self.context, module, name)
        AddImportsVisitor.add_needed_import(self.context, "dvc.repo", "Repo", asname="DvcRepo")
        return translated


def _decline_lfs_commands(tree: cst.Module) -> None:
    """git-lfs run through a shell/subprocess or configured by writing .gitattributes by hand is not
    translated (its strings would otherwise be mistaken for prose)."""

    class Strings(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            value = str(node.evaluated_value).strip().lower()
            if value in ("lfs", "git-lfs") or value.startswith(("git lfs", "git-lfs ")) or "filter=lfs" in value:
                raise SkipFile(f"git-lfs is run as a command or configured by hand ({value!r})")

    fast_visit(tree, Strings())


def _code_without_comments(tree: cst.Module) -> str:
    return "\n".join(line.split("#", 1)[0] for line in tree.code.splitlines())


def _insert_after_imports(tree: cst.Module, statements: list[cst.BaseStatement]) -> cst.Module:
    body = list(tree.body)
    last = 0
    for index, statement in enumerate(body):
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
        ):
            last = index + 1
    statements[0] = statements[0].with_changes(leading_lines=[cst.EmptyLine(indent=False), *statements[0].leading_lines])
    return tree.with_changes(body=[*body[:last], *statements, *body[last:]])
