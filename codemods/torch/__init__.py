"""Codemods that add during-training pruning with torch.nn.utils.prune (raw loops and Lightning)."""
