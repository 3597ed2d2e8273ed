"""Keep data-set variants on Git branches (data stored with DVC) and publish them.

main holds the base data set; each experiment branch holds a derived variant. Every version is
tracked with DVC, its .dvc file committed and tagged, the script returns to main, all branches
and tags go to the Git remote and every data version goes to the DVC remote.
"""
import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import git
import numpy as np
from dvc.repo import Repo as DvcRepo

DATA_FILE = "dataset/train.csv"


@dataclass
class Variant:
    branch: str
    tag: str
    description: str
    augment_copies: int = 0
    balance: bool = False


VARIANTS = [
    Variant("experiment/augmented", "data-v1.1-augmented", "two noisy copies of every row", augment_copies=2),
    Variant("experiment/balanced", "data-v1.2-balanced", "minority class oversampled", balance=True),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo-dir", type=Path, required=True)
    parser.add_argument("--remote", required=True, help="path or URL of the bare Git remote")
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--summary", type=Path, default=Path("branches.json"))
    return parser.parse_args()


def base_dataset(rows: int, rng: np.random.Generator) -> np.ndarray:
    X = rng.normal(size=(rows, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.8).astype(float)  # imbalanced on purpose
    return np.column_stack([X, y])


def derive(data: np.ndarray, variant: Variant, rng: np.random.Generator) -> np.ndarray:
    if variant.augment_copies:
        copies = [data] + [np.column_stack([data[:, :3] + rng.normal(scale=0.05, size=data[:, :3].shape), data[:, 3]])
                           for _ in range(variant.augment_copies)]
        return np.vstack(copies)
    if variant.balance:
        minority = data[data[:, 3] == 1]
        extra = minority[rng.integers(0, len(minority), size=int((data[:, 3] == 0).sum()) - len(minority))]
        return np.vstack([data, extra])
    return data


def write_csv(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x0", "x1", "x2", "label"])
        writer.writerows([[f"{v:.5f}" for v in row[:3]] + [int(row[3])] for row in data])


def count_rows(path: Path) -> int:
    with path.open() as f:
        return sum(1 for _ in f) - 1


def commit_data(repo: git.Repo, dvc_repo: DvcRepo, message: str, tag: str) -> git.Commit:
    dvc_repo.add(str(Path(repo.working_tree_dir) / DATA_FILE))
    # Git versions the .dvc pointer (and the .gitignore DVC keeps for the raw file).
    repo.index.add([f"{DATA_FILE}.dvc", str(Path(DATA_FILE).parent / ".gitignore")])
    commit = repo.index.commit(message)
    repo.create_tag(tag, ref=commit, message=message)
    return commit


def init_dvc(repo: git.Repo, remote_url: str) -> DvcRepo:
    """DVC with a default local remote next to the Git remote (remote.git -> remote.dvc-storage)."""
    dvc_repo = DvcRepo.init(repo.working_tree_dir)
    storage = Path(remote_url).resolve().with_suffix(".dvc-storage")
    storage.mkdir(parents=True, exist_ok=True)
    with dvc_repo.config.edit() as dvc_config:
        dvc_config["remote"]["storage"] = {"url": str(storage)}
        dvc_config["core"]["remote"] = "storage"
    repo.index.add([".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    repo.index.commit("Store data sets with DVC")
    return dvc_repo


def switch_branch(branch: git.Head, dvc_repo: DvcRepo) -> None:
    # git checkout only swaps the .dvc pointer; dvc checkout brings the matching data into the workspace.
    branch.checkout()
    dvc_repo.checkout()


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    repo = git.Repo.init(args.repo_dir, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Data Versioning")
        config.set_value("user", "email", "dataops@example.com")
    dvc_repo = init_dvc(repo, args.remote)

    data_path = Path(repo.working_tree_dir) / DATA_FILE
    base = base_dataset(args.rows, rng)
    write_csv(data_path, base)
    commit_data(repo, dvc_repo, f"Base data set ({len(base)} rows)", "data-v1.0")
    main_branch = repo.heads.main

    summary = {"main": {"tag": "data-v1.0", "rows": len(base)}}
    for variant in VARIANTS:
        branch = repo.create_head(variant.branch, main_branch.commit)
        switch_branch(branch, dvc_repo)
        data = derive(base, variant, rng)
        write_csv(data_path, data)
        commit = commit_data(repo, dvc_repo, f"{variant.description} ({len(data)} rows)", variant.tag)
        summary[variant.branch] = {"tag": variant.tag, "rows": len(data), "commit": commit.hexsha}
        print(f"{variant.branch}: {len(data)} rows, tagged {variant.tag}")
        switch_branch(main_branch, dvc_repo)

    main_rows = count_rows(data_path)
    assert main_rows == len(base), "main should be back on the base data set"

    origin = repo.create_remote("origin", args.remote)
    origin.push(refspec=[f"refs/heads/{head.name}:refs/heads/{head.name}" for head in repo.heads])
    origin.push(tags=True)
    pushed = dvc_repo.push(all_branches=True)
    print(f"{pushed} data object(s) pushed to the DVC remote")

    args.summary.write_text(json.dumps(summary, indent=2))
    print(f"final: {len(repo.heads)} branches pushed, main back on {main_rows} rows")


if __name__ == "__main__":
    main()
