"""Publish versioned feature matrices to a shared Git remote, with the arrays stored in Git LFS.

Each release regenerates the feature matrix, commits it, tags it `features-vN` and pushes the
branch and its tags to the remote.
"""
import argparse
import json
from pathlib import Path

import git
import numpy as np

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


def open_repo(repo_dir: Path, remote_url: str) -> git.Repo:
    repo = git.Repo.init(repo_dir, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Feature Pipeline")
        config.set_value("user", "email", "features@example.com")
    repo.git.lfs("install", "--local")
    repo.git.lfs("track", "*.npy")
    repo.git.add(".gitattributes")
    repo.index.commit("Track NumPy arrays with Git LFS")
    repo.create_remote("origin", remote_url)
    return repo


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


def commit_and_tag(repo: git.Repo, stats: dict) -> git.TagReference:
    # `git add` runs the LFS clean filter; GitPython's index.add would store the raw bytes.
    repo.git.add(CONFIG["features_path"], CONFIG["labels_path"])
    commit = repo.index.commit(f"Release features v{stats['release']} (positive rate {stats['positive_rate']:.3f})")
    return repo.create_tag(f"features-v{stats['release']}", ref=commit, message=json.dumps(stats))


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    repo = open_repo(args.repo_dir, args.remote)

    for release in range(1, CONFIG["releases"] + 1):
        stats = generate_release(repo, release, rng)
        tag = commit_and_tag(repo, stats)
        print(f"tagged {tag.name} at {tag.commit.hexsha[:10]}")

    origin = repo.remote("origin")
    origin.push(refspec="refs/heads/main:refs/heads/main", set_upstream=True)
    origin.push(tags=True)

    remote_tags = sorted(ref.split("refs/tags/")[-1] for ref in repo.git.ls_remote("--tags", "origin").split()
                         if ref.startswith("refs/tags/") and not ref.endswith("^{}"))
    print(f"final remote tags: {', '.join(remote_tags)}")


if __name__ == "__main__":
    main()
