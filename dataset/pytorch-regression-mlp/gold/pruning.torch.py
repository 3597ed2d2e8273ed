"""MLP regressor on synthetic tabular data (a noisy non-linear function of 8 features)."""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

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

model = nn.Sequential(nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                      nn.Linear(hidden_size, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.MSELoss()

# L1 magnitude pruning during training: after the first epoch, the global sparsity of the Linear
# weights steps up to TARGET_SPARSITY at the last epoch; training continues on the pruned weights.
TARGET_SPARSITY = 0.5
prunable = [(module, "weight") for module in model if isinstance(module, nn.Linear)]
sparsity_schedule = {epoch: TARGET_SPARSITY * epoch / (epochs - 1) for epoch in range(1, epochs)}
current_sparsity = 0.0

for epoch in range(epochs):
    if epoch in sparsity_schedule:
        target = sparsity_schedule[epoch]
        # global_unstructured prunes a share of the weights that are still unpruned.
        amount = (target - current_sparsity) / (1.0 - current_sparsity)
        prune.global_unstructured(prunable, pruning_method=prune.L1Unstructured, amount=amount)
        current_sparsity = target
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
          f"sparsity {current_sparsity:.2f}")

# Make the pruning permanent: drop the masks and keep the zeros in the weights.
for module, name in prunable:
    prune.remove(module, name)
zeros = sum(int((module.weight == 0).sum()) for module, _ in prunable)
total = sum(module.weight.numel() for module, _ in prunable)
print(f"weight sparsity of pruned layers: {zeros / total:.3f}")
torch.save(model.state_dict(), "mlp_regressor.pt")
with open("metrics.json", "w") as f:
    json.dump({"val_mse": val_mse, "epochs": epochs}, f)
print(f"final val mse: {val_mse:.4f}")
