"""MLP regressor on synthetic tabular data (a noisy non-linear function of 8 features)."""
import json

import nncf
import numpy as np
import torch
import torch.nn as nn
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler

torch.manual_seed(0)
np.random.seed(0)

n_samples, n_features = 2000, 8
hidden_size = 64
lr = 1e-2
batch_size = 128
epochs = 5

X = torch.randn(n_samples, n_features)
true_w = torch.randn(n_features, 1)
y = torch.sin(X @ true_w) + 0.5 * X[:, :1] ** 2 + 0.1 * torch.randn(n_samples, 1)
X_train, y_train, X_val, y_val = X[:1600], y[:1600], X[1600:], y[1600:]


class MLP(nn.Module):
    """NNCF adds a hook-storage submodule, which a bare nn.Sequential would try to call in forward."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size),
                                    nn.ReLU(), nn.Linear(hidden_size, 1))

    def forward(self, x):
        return self.layers(x)


model = MLP()
# Magnitude pruning masks on every Linear weight; the scheduler raises the pruned share per epoch up to 50%.
PRUNE_MODE = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
model = nncf.prune(model, mode=PRUNE_MODE, ratio=0.1, examples_inputs=X_train[:2])
pruning_scheduler = MultiStepMagnitudePruningScheduler(model, mode=PRUNE_MODE, steps={0: 0.1, 1: 0.3, 2: 0.5})
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.MSELoss()

for epoch in range(epochs):
    pruning_scheduler.step(epoch)
    permutation = torch.randperm(len(X_train))
    for start in range(0, len(X_train), batch_size):
        idx = permutation[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(X_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        val_mse = loss_fn(model(X_val), y_val).item()
    print(f"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val mse {val_mse:.4f}, "
          f"pruning ratio {nncf.pruning_statistic(model).pruning_ratio:.2f}")

print(nncf.pruning_statistic(model))
torch.save(model.state_dict(), "mlp_regressor.pt")
with open("metrics.json", "w") as f:
    json.dump({"val_mse": val_mse, "epochs": epochs}, f)
print(f"final val mse: {val_mse:.4f}")
