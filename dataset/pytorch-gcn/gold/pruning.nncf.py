# Two-layer graph convolutional network (Kipf & Welling) written by hand, for
# semi-supervised node classification on a synthetic stochastic-block-model graph.
import json
import random

import nncf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler

SEED = 7
NUM_NODES = 600
NUM_CLASSES = 4
NUM_FEATURES = 32
P_IN = 0.03  # edge probability inside a community
P_OUT = 0.01  # edge probability across communities
FEATURE_NOISE = 3.0
TRAIN_PER_CLASS = 20

HIDDEN_SIZE = 16
DROPOUT = 0.5
LR = 0.01
WEIGHT_DECAY = 5e-4
EPOCHS = 100
LOG_EVERY = 10
# full-batch training: one epoch is one step; epoch index -> pruning ratio of the Linear weights
PRUNING_STEPS = {0: 0.1, 25: 0.3, 50: 0.5}

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)

# ---- synthetic graph: communities are the classes, features are weakly informative ----
labels_np = np.repeat(np.arange(NUM_CLASSES), NUM_NODES // NUM_CLASSES)
same_block = labels_np[:, None] == labels_np[None, :]
edge_prob = np.where(same_block, P_IN, P_OUT)
upper = np.triu(np.random.rand(NUM_NODES, NUM_NODES) < edge_prob, k=1)
adjacency_np = (upper | upper.T).astype(np.float32)

class_means = np.random.randn(NUM_CLASSES, NUM_FEATURES)
features_np = class_means[labels_np] + FEATURE_NOISE * np.random.randn(NUM_NODES, NUM_FEATURES)

# symmetric normalisation with self loops: D^-1/2 (A + I) D^-1/2
adj_self = adjacency_np + np.eye(NUM_NODES, dtype=np.float32)
deg_inv_sqrt = 1.0 / np.sqrt(adj_self.sum(axis=1))
norm_adj_np = adj_self * deg_inv_sqrt[:, None] * deg_inv_sqrt[None, :]

features = torch.tensor(features_np, dtype=torch.float32)
labels = torch.tensor(labels_np, dtype=torch.long)
norm_adj = torch.tensor(norm_adj_np, dtype=torch.float32)

# few labelled nodes per class for training, the rest split into validation and test
perm = np.random.permutation(NUM_NODES)
train_idx = np.concatenate([perm[labels_np[perm] == c][:TRAIN_PER_CLASS] for c in range(NUM_CLASSES)])
rest = np.setdiff1d(perm, train_idx)
rest = rest[np.random.permutation(len(rest))]
val_idx, test_idx = rest[:200], rest[200:]
train_idx, val_idx, test_idx = (torch.tensor(i, dtype=torch.long) for i in (train_idx, val_idx, test_idx))


class GraphConvolution(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x, adj):
        return adj @ self.linear(x)


class GCN(nn.Module):
    def __init__(self, in_features, hidden, num_classes, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(in_features, hidden)
        self.gc2 = GraphConvolution(hidden, num_classes)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.dropout(x, self.dropout, training=self.training)
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        return self.gc2(x, adj)


def accuracy(logits, idx):
    return (logits[idx].argmax(dim=1) == labels[idx]).float().mean().item()


model = GCN(NUM_FEATURES, HIDDEN_SIZE, NUM_CLASSES, DROPOUT)
# the adjacency is a forward input, not a constant, so NNCF masks only the graph-conv Linear weights
pruning_mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
model = nncf.prune(model, mode=pruning_mode, ratio=PRUNING_STEPS[0], examples_inputs=(features, norm_adj))
pruning_scheduler = MultiStepMagnitudePruningScheduler(model, mode=pruning_mode, steps=PRUNING_STEPS)
optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

for epoch in range(1, EPOCHS + 1):
    pruning_scheduler.step()
    model.train()
    optimizer.zero_grad()
    logits = model(features, norm_adj)
    loss = F.cross_entropy(logits[train_idx], labels[train_idx])
    loss.backward()
    optimizer.step()

    if epoch % LOG_EVERY == 0:
        model.eval()
        with torch.no_grad():
            logits = model(features, norm_adj)
        val_loss = F.cross_entropy(logits[val_idx], labels[val_idx]).item()
        print(f"epoch {epoch:3d} loss={loss.item():.4f} val_loss={val_loss:.4f} val_acc={accuracy(logits, val_idx):.4f}")

model.eval()
with torch.no_grad():
    logits = model(features, norm_adj)
test_acc = accuracy(logits, test_idx)

print(nncf.pruning_statistic(model))
torch.save(model.state_dict(), "gcn.pt")
np.save("node_predictions.npy", logits.argmax(dim=1).numpy())
with open("metrics.json", "w") as f:
    json.dump({"val_acc": accuracy(logits, val_idx), "test_acc": test_acc}, f)
print(f"final test accuracy: {test_acc:.4f}")
