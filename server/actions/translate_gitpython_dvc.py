from . import Action, Example

ACTION = Action(
    id='translate.gitpython-dvc',
    title='MLOps: Translate GitPython version control to DVC',
    kind='translate',
    library='dvc',
    frameworks=('gitpython',),
    checker="mlops_lsp.bench.checkers.translate_gitpython_dvc:check",
    # Spelled out step by step: told only "translate to dvc.repo.Repo", small models make the git
    # repository itself a DvcRepo and lose every git call the script still needs.
    task=(
        "Replace git-lfs by DVC for the data files. Keep the git repository (`repo = git.Repo.init(...)`) and "
        "every git call that is not `.lfs(...)`; create the DVC repository as a second object, "
        "`dvc_repo = DvcRepo.init(repo.working_tree_dir)`, with a local DVC remote as its default; track each "
        "data file with `dvc_repo.add(path)` and commit its `.dvc` file with git instead of the data file; "
        "call `dvc_repo.push()` after committing; list the `.dvc` files where the script listed LFS files."
    ),
    requires=(
        (r"\.add\(", "no data is added to DVC: call `dvc_repo.add(path)` where the script added the data to git"),
        # a name ending in ".dvc" that is not the listing's `endswith(".dvc")`
        (r"(?<!endswith\([\"'])\.dvc[\"']", "the .dvc files DVC writes are not committed: after `dvc_repo.add(path)`, git-add "
                         "`f\"{path}.dvc\"` and the .gitignore beside it, then commit"),
    ),
    # What the checker counts as git-lfs use: the word in code or strings (a commit message "Track
    # arrays with Git LFS" still claims it), not in comments or docstrings.
    removes=(r"(?i)\blfs\b|git-lfs", "the script must not use or name git-lfs any more: DVC needs no lfs "
                                        "install/track, data goes through dvc_repo.add(path) and dvc_repo.push(), "
                                        "messages say DVC"),
    # git-lfs swaps data files on checkout; with DVC, git swaps only the .dvc files.
    rewrites=(r"(?i)\blfs\b|git-lfs|\.git\.add\(|\.index\.add\(|\.checkout\(",
              "use git-lfs, add files to git or check out a branch"),
    # The example shows each kind of git-lfs use: its setup, an add where the DVC repository was created,
    # an add in a function that did not create it (it opens it), a checkout, a listing with a message
    # that names LFS.
    example=Example(
        before='''\
from pathlib import Path

import git


def commit_data(repo: git.Repo, path: str) -> None:
    repo.git.add(path)
    repo.index.commit(f"update {path}")


repo = git.Repo.init("data-repo", initial_branch="main")
repo.git.lfs("install", "--local")
repo.git.lfs("track", "*.csv")
data_file = Path(repo.working_tree_dir, "data.csv")
data_file.write_text("x,y\\n1,2\\n")
repo.git.add(".gitattributes", "data.csv")
repo.index.commit("add data")
repo.git.checkout("-b", "more-rows")
data_file.write_text("x,y\\n1,2\\n3,4\\n")
commit_data(repo, "data.csv")
lfs_files = repo.git.lfs("ls-files").splitlines()
print(f"LFS files: {lfs_files}")
print(f"final: {len(lfs_files)} data file(s) versioned")
''',
        after='''\
from pathlib import Path

import git
from dvc.repo import Repo as DvcRepo


def commit_data(repo: git.Repo, path: str) -> None:
    # The DVC repository was created elsewhere: open it. DVC keeps the data file; git commits the
    # small .dvc file DVC writes beside it, and the .gitignore that keeps the data out of git.
    dvc_repo = DvcRepo(repo.working_tree_dir)
    data_path = Path(repo.working_tree_dir, path)
    dvc_repo.add(str(data_path))
    dvc_repo.push()
    repo.git.add(f"{data_path}.dvc", str(data_path.parent / ".gitignore"))
    repo.index.commit(f"update {path}")


repo = git.Repo.init("data-repo", initial_branch="main")
# DVC instead of git-lfs, initialised once, after git, in its working tree (DvcRepo.init takes only
# the directory and stages DVC's own files), with a local default remote.
dvc_repo = DvcRepo.init(repo.working_tree_dir)
storage = Path(repo.working_tree_dir).resolve().parent / "data-repo.dvc-storage"
storage.mkdir(parents=True, exist_ok=True)
with dvc_repo.config.edit() as conf:
    conf["remote"]["storage"] = {"url": str(storage)}
    conf["core"]["remote"] = "storage"
data_file = Path(repo.working_tree_dir, "data.csv")
data_file.write_text("x,y\\n1,2\\n")
# DVC keeps the data file; git commits the small .dvc file DVC writes beside it, and the .gitignore
# that keeps the data out of git.
dvc_repo.add(str(data_file))
dvc_repo.push()
repo.git.add(f"{data_file}.dvc", str(data_file.parent / ".gitignore"))
repo.index.commit("add data")
repo.git.checkout("-b", "more-rows")
# git checkout swaps only the small .dvc files: DVC brings the data that goes with them.
dvc_repo.checkout()
data_file.write_text("x,y\\n1,2\\n3,4\\n")
commit_data(repo, "data.csv")
lfs_files = [path for path, _ in repo.index.entries if path.endswith(".dvc")]
print(f"DVC files: {lfs_files}")
print(f"final: {len(lfs_files)} data file(s) versioned")
''',
        hunks=(
            '''\
# The DVC repository was created elsewhere: open it. DVC keeps the data file; git commits the
# small .dvc file DVC writes beside it, and the .gitignore that keeps the data out of git.
dvc_repo = DvcRepo(repo.working_tree_dir)
data_path = Path(repo.working_tree_dir, path)
dvc_repo.add(str(data_path))
dvc_repo.push()
repo.git.add(f"{data_path}.dvc", str(data_path.parent / ".gitignore"))
''',
            '''\
from dvc.repo import Repo as DvcRepo

# DVC instead of git-lfs, initialised once, after git, in its working tree (DvcRepo.init takes only
# the directory and stages DVC's own files), with a local default remote.
dvc_repo = DvcRepo.init(repo.working_tree_dir)
storage = Path(repo.working_tree_dir).resolve().parent / "data-repo.dvc-storage"
storage.mkdir(parents=True, exist_ok=True)
with dvc_repo.config.edit() as conf:
    conf["remote"]["storage"] = {"url": str(storage)}
    conf["core"]["remote"] = "storage"
''',
            '''\
# DVC keeps the data file; git commits the small .dvc file DVC writes beside it, and the .gitignore
# that keeps the data out of git.
dvc_repo.add(str(data_file))
dvc_repo.push()
repo.git.add(f"{data_file}.dvc", str(data_file.parent / ".gitignore"))
''',
            '''\
repo.git.checkout("-b", "more-rows")
# git checkout swaps only the small .dvc files: DVC brings the data that goes with them.
dvc_repo.checkout()
''',
            '''\
lfs_files = [path for path, _ in repo.index.entries if path.endswith(".dvc")]
print(f"DVC files: {lfs_files}")
''',
        ),
    ),
)
