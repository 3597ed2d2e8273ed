"""Version a generated data set in a local Git repository with Git LFS (GitPython)."""
import argparse
import csv
from pathlib import Path

import git
import numpy as np


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


def main() -> None:
    args = parse_args()
    repo = git.Repo.init(args.repo_dir, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Data Bot")
        config.set_value("user", "email", "data-bot@example.com")

    # Large files go through Git LFS: install the filters in this repo and track CSVs.
    repo.git.lfs("install", "--local")
    repo.git.lfs("track", "data/*.csv")

    data_file = Path(repo.working_tree_dir) / "data" / "measurements.csv"
    write_measurements(data_file, args.rows, args.seed)

    # `git add` (not repo.index.add) so the LFS clean filter turns the CSV into a pointer.
    repo.git.add(".gitattributes", "data/measurements.csv")
    commit = repo.index.commit(f"Add measurements data set ({args.rows} rows)")

    lfs_files = repo.git.lfs("ls-files").splitlines()
    print(f"LFS files: {lfs_files}")
    print(f"committed {commit.hexsha[:10]}")
    print(f"final: {len(lfs_files)} data file(s) versioned in {len(list(repo.iter_commits()))} commit(s)")


if __name__ == "__main__":
    main()
