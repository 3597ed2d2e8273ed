"""Publish versioned feature matrices to a shared Git remote, with the arrays stored in DVC.

Each release regenerates the feature matrix, tracks it with DVC, commits the .dvc files, tags
the commit `features-vN` and pushes the data to the DVC remote; the branch and its tags are
pushed to the Git remote.
"""
import argparse
import json
from pathlib import Path

import git
import numpy as np
from dvc.repo import Repo as DvcRepo

CONFIG = {
    "features_path": "features/train_features.npy",
    "labels_path": "features/train_labels.npy",
    "n_samples": 400,
    "n_features": 16,
    "releases": 2,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo-dir", type=Path, required=True, help="local working repository to create")
    parser.add_argument("--remote", required=True, help="URL or path of the shared (bare) Git repository")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def dvc_storage_for(remote_url: str) -> Path:
    """The DVC remote lives next to the shared Git repository: remote.git -> remote.dvc-storage."""
    return Path(remote_url).resolve().with_suffix(".dvc-storage")


def open_repo(repo_dir: Path, remote_url: str) -> tuple[git.Repo, DvcRepo]:
    repo = git.Repo.init(repo_dir, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Feature Pipeline")
        config.set_value("user", "email", "features@example.com")
    dvc_repo = DvcRepo.init(repo.working_tree_dir)
    storage = dvc_storage_for(remote_url)
    storage.mkdir(parents=True, exist_ok=True)
    with dvc_repo.config.edit() as dvc_config:
        dvc_config["remote"]["storage"] = {"url": str(storage)}
        dvc_config["core"]["remote"] = "storage"
    repo.index.add([".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    repo.index.commit("Track data with DVC (default remote: storage)")
    repo.create_remote("origin", remote_url)
    return repo, dvc_repo


def generate_release(repo: git.Repo, release: int, rng: np.random.Generator) -> dict:
    root = Path(repo.working_tree_dir)
    n, d = CONFIG["n_samples"], CONFIG["n_features"]
    weights = rng.normal(size=d)
    features = rng.normal(size=(n, d)).astype(np.float32)
    labels = (features @ weights + 0.1 * release > 0).astype(np.int64)
    for rel_path, array in ((CONFIG["features_path"], features), (CONFIG["labels_path"], labels)):
        (root / rel_path).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / rel_path, array)
    return {"release": release, "n_samples": n, "n_features": d, "positive_rate": float(labels.mean())}


def commit_and_tag(repo: git.Repo, dvc_repo: DvcRepo, stats: dict) -> git.TagReference:
    root = Path(repo.working_tree_dir)
    data_paths = [CONFIG["features_path"], CONFIG["labels_path"]]
    dvc_repo.add([str(root / path) for path in data_paths])
    # Git versions the small .dvc pointers; DVC wrote the .gitignore that keeps the arrays out of Git.
    repo.index.add([f"{path}.dvc" for path in data_paths] + [str(Path(data_paths[0]).parent / ".gitignore")])
    commit = repo.index.commit(f"Release features v{stats['release']} (positive rate {stats['positive_rate']:.3f})")
    return repo.create_tag(f"features-v{stats['release']}", ref=commit, message=json.dumps(stats))


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    repo, dvc_repo = open_repo(args.repo_dir, args.remote)

    for release in range(1, CONFIG["releases"] + 1):
        stats = generate_release(repo, release, rng)
        tag = commit_and_tag(repo, dvc_repo, stats)
        pushed = dvc_repo.push()
        print(f"tagged {tag.name} at {tag.commit.hexsha[:10]} ({pushed} data object(s) pushed)")

    origin = repo.remote("origin")
    origin.push(refspec="refs/heads/main:refs/heads/main", set_upstream=True)
    origin.push(tags=True)

    remote_tags = sorted(ref.split("refs/tags/")[-1] for ref in repo.git.ls_remote("--tags", "origin").split()
                         if ref.startswith("refs/tags/") and not ref.endswith("^{}"))
    print(f"final remote tags: {', '.join(remote_tags)}")


if __name__ == "__main__":
    main()
