"""Version a generated data set in a local Git repository with DVC (Git history via GitPython)."""
import argparse
import csv
from pathlib import Path

import git
import numpy as np
from dvc.repo import Repo as DvcRepo


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo-dir", type=Path, default=Path("data-repo"))
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def write_measurements(path: Path, rows: int, seed: int) -> None:
    """Synthetic sensor readings: timestamp, temperature, humidity, label."""
    rng = np.random.default_rng(seed)
    temperature = rng.normal(21.0, 3.0, rows)
    humidity = rng.uniform(30.0, 70.0, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "temperature", "humidity", "label"])
        for t in range(rows):
            writer.writerow([t, f"{temperature[t]:.3f}", f"{humidity[t]:.3f}", int(temperature[t] > 24.0)])


def init_dvc(repo: git.Repo, storage_dir: Path) -> DvcRepo:
    """DVC on top of the Git repo, with a local default remote replacing the LFS object store."""
    dvc_repo = DvcRepo.init(repo.working_tree_dir)
    storage_dir.mkdir(parents=True, exist_ok=True)
    with dvc_repo.config.edit() as config:
        config["remote"]["storage"] = {"url": str(storage_dir.resolve())}
        config["core"]["remote"] = "storage"
    repo.index.add([".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    repo.index.commit("Initialise DVC with a local remote")
    return dvc_repo


def main() -> None:
    args = parse_args()
    repo = git.Repo.init(args.repo_dir, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Data Bot")
        config.set_value("user", "email", "data-bot@example.com")

    # Large files go through DVC: Git keeps only the small .dvc pointer file.
    storage_dir = args.repo_dir.parent / f"{args.repo_dir.name}.dvc-storage"
    dvc_repo = init_dvc(repo, storage_dir)

    data_file = Path(repo.working_tree_dir) / "data" / "measurements.csv"
    write_measurements(data_file, args.rows, args.seed)

    dvc_repo.add(str(data_file))
    repo.index.add(["data/measurements.csv.dvc", "data/.gitignore"])
    commit = repo.index.commit(f"Add measurements data set ({args.rows} rows)")
    pushed = dvc_repo.push()

    dvc_files = [path for path, _ in repo.index.entries if path.endswith(".dvc")]
    print(f"DVC files: {dvc_files} ({pushed} object(s) pushed to {storage_dir})")
    print(f"committed {commit.hexsha[:10]}")
    print(f"final: {len(dvc_files)} data file(s) versioned in {len(list(repo.iter_commits()))} commit(s)")


if __name__ == "__main__":
    main()
