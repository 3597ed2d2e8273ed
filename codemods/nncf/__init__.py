"""Codemods that add during-training pruning with NNCF 3.x (nncf.prune and its magnitude schedulers)."""
