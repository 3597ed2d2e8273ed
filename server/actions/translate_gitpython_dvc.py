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
        (r"\.add\(", "no data is added to DVC: call dvc_repo.add(path)"),
        # No `.lfs(` anywhere (a lookahead from the start: requirements are patterns the code must match).
        (r"\A(?![\s\S]*\.lfs\()", "git-lfs is still called: delete the lfs install/track calls (DVC needs no "
                                      "filters), track with dvc_repo.add(path), upload with dvc_repo.push()"),
    ),
    example=Example(
        before='''\
from pathlib import Path

import git

repo = git.Repo.init("data-repo", initial_branch="main")
repo.git.lfs("install", "--local")
repo.git.lfs("track", "*.csv")
Path(repo.working_tree_dir, "data.csv").write_text("x,y\\n1,2\\n")
repo.git.add(".gitattributes", "data.csv")
repo.index.commit("add data")
lfs_files = repo.git.lfs("ls-files").splitlines()
print(f"final: {len(lfs_files)} data file(s) versioned")
''',
        after='''\
from pathlib import Path

import git
from dvc.repo import Repo as DvcRepo

repo = git.Repo.init("data-repo", initial_branch="main")
# DVC instead of git-lfs, initialised after git, in its working tree (DvcRepo.init takes only the directory).
dvc_repo = DvcRepo.init(repo.working_tree_dir)
storage = Path(repo.working_tree_dir).resolve().parent / "data-repo.dvc-storage"
storage.mkdir(parents=True, exist_ok=True)
with dvc_repo.config.edit() as conf:
    conf["remote"]["storage"] = {"url": str(storage)}
    conf["core"]["remote"] = "storage"
Path(repo.working_tree_dir, "data.csv").write_text("x,y\\n1,2\\n")
# DVC stores the data file; git commits the small data.csv.dvc file in its place.
dvc_repo.add(str(Path(repo.working_tree_dir, "data.csv")))
dvc_repo.push()
repo.git.add(".dvc/config", ".dvcignore", "data.csv.dvc", ".gitignore")
repo.index.commit("add data")
dvc_files = [path for path, _ in repo.index.entries if path.endswith(".dvc")]
print(f"final: {len(dvc_files)} data file(s) versioned")
''',
    ),
)
