"""Data-preparation pipeline that versions raw and processed data with DVC (Git via GitPython).

Two batches of raw customer records arrive one after the other. For each batch the pipeline
ingests the raw CSV, cleans and splits it into NumPy archives, records statistics, tracks the
raw and processed files with DVC and commits their .dvc files, tags the data set version and
publishes it: Git history to the shared Git remote, data to the DVC remote beside it. At the
end it lists the data history from Git.
"""
import argparse
import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import git
import numpy as np
from dvc.repo import Repo as DvcRepo

log = logging.getLogger("dataset-pipeline")


@dataclass
class PipelineConfig:
    repo_dir: Path
    remote_url: str
    output_dir: Path
    raw_file: str = "data/raw/customers.csv"
    processed_dir: str = "data/processed"
    batch_size: int = 400
    n_batches: int = 2
    test_fraction: float = 0.2
    missing_rate: float = 0.05
    seed: int = 11
    dvc_remote_name: str = "storage"
    author_name: str = "Dataset Pipeline"
    author_email: str = "pipeline@example.com"


class DatasetPipeline:
    """Owns the data repository (Git + DVC): every step that changes data ends in a commit."""

    FEATURES = ["age", "tenure_months", "monthly_spend", "support_calls"]

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.repo: git.Repo | None = None
        self.dvc: DvcRepo | None = None
        self.root = config.repo_dir

    # ----------------------------------------------------------------- repository
    def dvc_storage(self) -> Path:
        """DVC remote directory beside the shared Git repository (shared-data.git -> shared-data.dvc-storage)."""
        return Path(self.config.remote_url).resolve().with_suffix(".dvc-storage")

    def setup_repo(self) -> git.Repo:
        repo = git.Repo.init(self.config.repo_dir, initial_branch="main")
        with repo.config_writer() as writer:
            writer.set_value("user", "name", self.config.author_name)
            writer.set_value("user", "email", self.config.author_email)
        self.dvc = DvcRepo.init(repo.working_tree_dir)
        storage = self.dvc_storage()
        storage.mkdir(parents=True, exist_ok=True)
        with self.dvc.config.edit() as dvc_config:
            dvc_config["remote"][self.config.dvc_remote_name] = {"url": str(storage)}
            dvc_config["core"]["remote"] = self.config.dvc_remote_name
        repo.index.add([".dvc/config", ".dvc/.gitignore", ".dvcignore"])
        repo.index.commit("Configure DVC for raw and processed data")
        repo.create_remote("origin", self.config.remote_url)
        self.repo = repo
        self.root = Path(repo.working_tree_dir)
        log.info("initialised data repository at %s", self.root)
        return repo

    def commit(self, data_paths: list[str], message: str, git_paths: tuple[str, ...] = ()) -> git.Commit:
        """Track data files with DVC; Git gets their .dvc files, DVC's .gitignore files and small files."""
        self.dvc.add([str(self.root / path) for path in data_paths])
        pointer_files = [f"{path}.dvc" for path in data_paths]
        ignore_files = sorted({str(Path(path).parent / ".gitignore") for path in data_paths})
        self.repo.index.add(pointer_files + ignore_files + list(git_paths))
        commit = self.repo.index.commit(message)
        log.info("committed %s: %s", commit.hexsha[:10], message)
        return commit

    def tag(self, name: str, message: str) -> git.TagReference:
        return self.repo.create_tag(name, message=message)

    def publish(self) -> None:
        origin = self.repo.remote("origin")
        origin.push(refspec="refs/heads/main:refs/heads/main")
        origin.push(tags=True)
        pushed = self.dvc.push()
        log.info("pushed main and tags to %s, %d data object(s) to %s", self.config.remote_url, pushed,
                 self.dvc_storage())

    # ----------------------------------------------------------------- data steps
    def ingest_batch(self, batch: int) -> Path:
        """Append a new batch of raw records (with some missing values) to the raw CSV."""
        n = self.config.batch_size
        age = self.rng.integers(18, 80, n).astype(float)
        tenure = self.rng.integers(0, 72, n).astype(float)
        spend = np.round(self.rng.gamma(2.0, 30.0, n), 2)
        calls = self.rng.poisson(1.5 + 0.3 * batch, n).astype(float)
        churn_logit = -1.5 + 0.4 * calls - 0.03 * tenure + 0.01 * (spend - 60)
        churn = (self.rng.random(n) < 1 / (1 + np.exp(-churn_logit))).astype(int)
        columns = np.column_stack([age, tenure, spend, calls])
        columns[self.rng.random(columns.shape) < self.config.missing_rate] = np.nan

        raw_path = self.root / self.config.raw_file
        raw_path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not raw_path.exists()
        with raw_path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["batch", *self.FEATURES, "churn"])
            for row, label in zip(columns, churn):
                writer.writerow([batch, *("" if np.isnan(v) else v for v in row), label])
        return raw_path

    def load_raw(self) -> tuple[np.ndarray, np.ndarray]:
        with (self.root / self.config.raw_file).open() as f:
            rows = list(csv.DictReader(f))
        X = np.array([[float(r[c]) if r[c] else np.nan for c in self.FEATURES] for r in rows])
        y = np.array([int(r["churn"]) for r in rows])
        return X, y

    def process(self) -> dict:
        """Impute, standardise and split the raw data; write the processed archives and stats."""
        X, y = self.load_raw()
        missing = int(np.isnan(X).sum())
        medians = np.nanmedian(X, axis=0)
        X = np.where(np.isnan(X), medians, X)
        mean, std = X.mean(axis=0), X.std(axis=0)
        X = (X - mean) / std

        order = np.random.default_rng(self.config.seed).permutation(len(X))
        n_test = int(len(X) * self.config.test_fraction)
        test_idx, train_idx = order[:n_test], order[n_test:]

        out = self.root / self.config.processed_dir
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "train.npz", X=X[train_idx], y=y[train_idx])
        np.savez_compressed(out / "test.npz", X=X[test_idx], y=y[test_idx])
        stats = {
            "rows": len(X),
            "train_rows": len(train_idx),
            "test_rows": n_test,
            "imputed_values": missing,
            "churn_rate": float(y.mean()),
            "feature_means": dict(zip(self.FEATURES, map(float, mean))),
            "feature_stds": dict(zip(self.FEATURES, map(float, std))),
        }
        (out / "stats.json").write_text(json.dumps(stats, indent=2))
        return stats

    def processed_paths(self) -> list[str]:
        base = self.config.processed_dir
        return [f"{base}/train.npz", f"{base}/test.npz"]

    # ----------------------------------------------------------------- history
    def data_history(self) -> list[dict]:
        # Git sees the data through its .dvc files.
        data_paths = [f"{self.config.raw_file}.dvc", self.config.processed_dir]
        tags_by_commit = {t.commit.hexsha: t.name for t in self.repo.tags}
        return [
            {
                "commit": c.hexsha[:10],
                "message": c.message.strip(),
                "tag": tags_by_commit.get(c.hexsha),
                "files": sorted(c.stats.files),
            }
            for c in self.repo.iter_commits("main", paths=data_paths)
        ]

    # ----------------------------------------------------------------- run
    def run(self) -> dict:
        self.setup_repo()
        stats = {}
        for batch in range(1, self.config.n_batches + 1):
            self.ingest_batch(batch)
            self.commit([self.config.raw_file], f"Ingest raw batch {batch}")
            stats = self.process()
            self.commit(self.processed_paths(),
                        f"Process data set after batch {batch}: {stats['rows']} rows, "
                        f"{stats['imputed_values']} values imputed",
                        git_paths=(f"{self.config.processed_dir}/stats.json",))
            tag = self.tag(f"dataset-v{batch}", f"Data set after batch {batch}")
            self.publish()
            print(f"published {tag.name}: {stats['train_rows']} train / {stats['test_rows']} test rows")

        history = self.data_history()
        for entry in history:
            print(f"  {entry['commit']} {entry['tag'] or '':11s} {entry['message']}")
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        (self.config.output_dir / "data_history.json").write_text(json.dumps(history, indent=2))
        return {"version": f"dataset-v{self.config.n_batches}", "history": history, **stats}


def parse_args() -> PipelineConfig:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo-dir", type=Path, required=True)
    parser.add_argument("--remote", required=True, help="path or URL of the shared Git repository")
    parser.add_argument("--output-dir", type=Path, default=Path("pipeline_output"))
    parser.add_argument("--batch-size", type=int, default=400)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    return PipelineConfig(repo_dir=args.repo_dir, remote_url=args.remote, output_dir=args.output_dir,
                          batch_size=args.batch_size, n_batches=args.batches, seed=args.seed)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = DatasetPipeline(parse_args()).run()
    print(f"final dataset version {result['version']}: {result['train_rows']} train / "
          f"{result['test_rows']} test rows, {len(result['history'])} data commits")
