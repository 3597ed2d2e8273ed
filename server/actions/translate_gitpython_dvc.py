from . import Action, Example

ACTION = Action(
    id='translate.gitpython-dvc',
    title='MLOps: Translate GitPython version control to DVC',
    kind='translate',
    library='dvc',
    frameworks=('gitpython',),
    checker="mlops_lsp.bench.checkers.translate_gitpython_dvc:check",
    task=(
        "Translate data versioning done with GitPython and git-lfs into DVC's Python API: dvc.repo.Repo.init/add/commit/push with a DVC remote configured from the script's git remote; git keeps the .dvc files and the script's other git operations."
    ),
    requires=(
        (r"\.add\(", "no data is added to DVC: call dvc_repo.add(path)"),
        # No `.lfs(` anywhere (a lookahead from the start: requirements are patterns the code must match).
        (r"\A(?![\s\S]*\.lfs\()", "git-lfs is still called: replace every repo.git.lfs(...) by DVC "
                                      "(dvc_repo.add(path) to track, dvc_repo.push() to upload)"),
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
