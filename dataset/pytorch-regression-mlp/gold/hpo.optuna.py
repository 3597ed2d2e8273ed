"""MLP regressor on synthetic tabular data (a noisy non-linear function of 8 features)."""
import json

import numpy as np
import optuna
import torch
import torch.nn as nn

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
loss_fn = nn.MSELoss()


def train(hidden_size, lr, batch_size, verbose=True):
    """Train a fresh MLP with these hyperparameters; return the model and its final validation MSE."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(n_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size),
                          nn.ReLU(), nn.Linear(hidden_size, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
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
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val mse {val_mse:.4f}")
    return model, val_mse


def objective(trial):
    _, val_mse = train(
        hidden_size=trial.suggest_categorical("hidden_size", [32, 64, 128]),
        lr=trial.suggest_float("lr", 1e-3, 5e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [64, 128, 256]),
        verbose=False,
    )
    return val_mse


study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, n_trials=3)
print(f"best params: {study.best_params} (val mse {study.best_value:.4f})")

model, val_mse = train(**study.best_params)
torch.save(model.state_dict(), "mlp_regressor.pt")
with open("metrics.json", "w") as f:
    json.dump({"val_mse": val_mse, "epochs": epochs}, f)
print(f"final val mse: {val_mse:.4f}")
