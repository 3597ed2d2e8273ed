"""translate.gitpython-dvc: the data file is tracked by DVC (a `.dvc` file with an md5), its object is
in the DVC cache and in the configured DVC remote, the `.dvc` file is committed to git, the raw data
file is in no commit, and no git-lfs use remains (in the source and in .gitattributes).

Reads the repository files directly (`.dvc` files, `.dvc/config`, cache and remote layout of DVC 3
and the legacy 2.x layout) and asks the git CLI about commits; DVC itself is not imported.
"""

from __future__ import annotations

import ast
import configparser
import io
import json
import re
import subprocess
import tokenize
from dataclasses import dataclass
from pathlib import Path

from ..runner import Check, CheckContext

CHECKS = ("dvc_tracked", "dvc_in_cache", "dvc_in_remote", "dvc_file_committed", "raw_data_not_committed", "no_git_lfs")

_MD5 = re.compile(r"^\s*-?\s*md5:\s*['\"]?([0-9a-f]{32}(?:\.dir)?)['\"]?\s*$", re.M)
_PATH = re.compile(r"^\s*-?\s*path:\s*['\"]?(.+?)['\"]?\s*$", re.M)


@dataclass
class Tracked:
    dvc_file: Path
    data_path: Path  # absolute
    md5: str
    repo: Path  # the DVC repository root (holds .dvc/)


def _skip(path: Path, workdir: Path) -> bool:
    return any(part in (".git", ".dvc") for part in path.relative_to(workdir).parts[:-1])


def tracked_outputs(workdir: Path) -> list[Tracked]:
    found = []
    for dvc_file in sorted(workdir.rglob("*.dvc")):
        if not dvc_file.is_file() or _skip(dvc_file, workdir):
            continue
        text = dvc_file.read_text(encoding="utf-8", errors="replace")
        md5s, paths = _MD5.findall(text), _PATH.findall(text)
        repo = next((p for p in [dvc_file.parent, *dvc_file.parent.parents] if (p / ".dvc").is_dir()), None)
        if md5s and paths and repo is not None:
            found.append(Tracked(dvc_file, (dvc_file.parent / paths[0]).resolve(), md5s[0], repo))
    return found


def _config(repo: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    for name in ("config", "config.local"):
        path = repo / ".dvc" / name
        if path.is_file():
            parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def _object_paths(root: Path, md5: str) -> list[Path]:
    return [root / "files" / "md5" / md5[:2] / md5[2:], root / md5[:2] / md5[2:]]  # DVC 3, then 2.x layout


def _has_object(root: Path, md5: str) -> bool:
    """The object (and, for a directory, every entry of its .dir listing) exists under root."""
    for path in _object_paths(root, md5):
        if path.is_file():
            if md5.endswith(".dir"):
                try:
                    entries = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    return False
                return all(_has_object(root, e["md5"]) for e in entries if "md5" in e)
            return True
    return False


def cache_dir(repo: Path) -> Path:
    config = _config(repo)
    section = next((s for s in config.sections() if s.strip("'") == "cache"), None)
    configured = config.get(section, "dir", fallback=None) if section else None
    return (repo / ".dvc" / configured).resolve() if configured else repo / ".dvc" / "cache"


def remote_dir(repo: Path) -> tuple[Path | None, str]:
    """The default remote's local directory, or (None, why not)."""
    config = _config(repo)
    core = next((s for s in config.sections() if s.strip("'") == "core"), None)
    name = config.get(core, "remote", fallback=None) if core else None
    if not name:
        return None, "no default DVC remote configured (dvc remote add -d ...)"
    # DVC writes quoted section names: ['remote "storage"'].
    section = next((s for s in config.sections() if s.strip("'") == f'remote "{name}"'), None)
    url = config.get(section, "url", fallback=None) if section else None
    if not url:
        return None, f"DVC remote {name!r} has no url"
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        return None, f"DVC remote {name!r} is not a local directory ({url}); cannot verify offline"
    # DVC resolves a relative remote url against the directory of the config file that sets it.
    return (repo / ".dvc" / url).resolve(), ""


def _git(repo: Path, *args: str, ctx: CheckContext) -> tuple[int, str]:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60,
                            env=ctx.sandbox.environment(hook=False))
    return result.returncode, result.stdout


def _git_root(path: Path) -> Path | None:
    return next((p for p in [path.parent, *path.parent.parents] if (p / ".git").exists()), None)


def committed_paths(repo: Path, ctx: CheckContext) -> tuple[set[str], set[str]] | None:
    """(paths in HEAD, paths in any commit) relative to the git root, or None without a commit."""
    code, head = _git(repo, "ls-tree", "-r", "--name-only", "HEAD", ctx=ctx)
    if code != 0:
        return None
    _, history = _git(repo, "log", "--all", "--name-only", "--format=", ctx=ctx)
    return set(head.split("\n")) - {""}, set(history.split("\n")) - {""}


def code_without_comments_and_docstrings(source: str) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    docstring_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstring_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    kept = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT or (token.type == tokenize.STRING and token.start[0] in docstring_lines):
            continue
        kept.append(token.string)
    return " ".join(kept)


_LFS_USE = re.compile(r"\blfs\b|git-lfs|filter=lfs", re.I)


def check(ctx: CheckContext) -> dict[str, Check]:
    results: dict[str, Check] = {}
    lfs_in_source = _LFS_USE.search(code_without_comments_and_docstrings(ctx.source))
    lfs_attributes = [p for p in ctx.workdir.rglob(".gitattributes")
                      if "filter=lfs" in p.read_text(encoding="utf-8", errors="replace")]
    lfs_why = (f"source still uses git-lfs ({lfs_in_source.group(0)!r})" if lfs_in_source
               else f"{lfs_attributes[0].relative_to(ctx.workdir)} still routes files through lfs" if lfs_attributes else "")
    results["no_git_lfs"] = (not lfs_why, lfs_why)

    tracked = [t for t in tracked_outputs(ctx.workdir) if t.data_path.exists()]
    if not tracked:
        reason = "no .dvc file with an md5 for an existing data file (dvc add)"
        return {name: (False, reason) for name in CHECKS if name != "no_git_lfs"} | results
    results["dvc_tracked"] = (True, "")
    in_cache = [t for t in tracked if _has_object(cache_dir(t.repo), t.md5)]
    results["dvc_in_cache"] = (bool(in_cache), f"{tracked[0].md5} not in the DVC cache {cache_dir(tracked[0].repo)}")
    remote_reasons = []
    in_remote = []
    for t in tracked:
        remote, why = remote_dir(t.repo)
        if remote is None:
            remote_reasons.append(why)
        elif _has_object(remote, t.md5):
            in_remote.append(t)
        else:
            remote_reasons.append(f"{t.md5} not in the DVC remote {remote} (dvc push)")
    results["dvc_in_remote"] = (bool(in_remote), remote_reasons[0] if remote_reasons else "")

    committed, clean = [], []
    commit_reasons = []
    for t in tracked:
        git_root = _git_root(t.dvc_file)
        if git_root is None:
            commit_reasons.append(f"{t.dvc_file.name} is not inside a git repository")
            continue
        paths = committed_paths(git_root, ctx)
        if paths is None:
            commit_reasons.append("the git repository has no commit")
            continue
        head, history = paths
        dvc_rel = t.dvc_file.relative_to(git_root).as_posix()
        data_rel = t.data_path.relative_to(git_root).as_posix() if t.data_path.is_relative_to(git_root) else None
        if dvc_rel in head:
            committed.append(t)
        else:
            commit_reasons.append(f"{dvc_rel} is not committed to git")
        if data_rel is not None and not any(p == data_rel or p.startswith(data_rel + "/") for p in history):
            clean.append(t)
    results["dvc_file_committed"] = (bool(committed), commit_reasons[0] if commit_reasons else "")
    in_repo = any(_git_root(t.dvc_file) is not None for t in tracked)
    results["raw_data_not_committed"] = (
        bool(clean),
        f"the raw data file {tracked[0].data_path.name} is in a git commit" if in_repo else commit_reasons[0],
    )
    return results
