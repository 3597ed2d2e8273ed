"""MLP regressor on synthetic tabular data (a noisy non-linear function of 8 features)."""
import json

import numpy as np
import torch
import torch.nn as nn
import wandb

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

run = wandb.init(
    project="pytorch-regression-mlp",
    config={"n_samples": n_samples, "n_features": n_features, "hidden_size": hidden_size, "lr": lr,
            "batch_size": batch_size, "epochs": epochs},
)
model = nn.Sequential(nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                      nn.Linear(hidden_size, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.MSELoss()

for epoch in range(epochs):
    permutation = torch.randperm(len(X_train))
    for start in range(0, len(X_train), batch_size):
        idx = permutation[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(X_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        val_mse = loss_fn(model(X_val), y_val).item()
    wandb.log({"epoch": epoch + 1, "train_loss": loss.item(), "val_mse": val_mse}, step=epoch + 1)
    print(f"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val mse {val_mse:.4f}")

torch.save(model.state_dict(), "mlp_regressor.pt")
with open("metrics.json", "w") as f:
    json.dump({"val_mse": val_mse, "epochs": epochs}, f)
run.summary["final_val_mse"] = val_mse
wandb.finish()
print(f"final val mse: {val_mse:.4f}")
