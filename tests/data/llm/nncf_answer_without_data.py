# Qwen2.5-Coder-1.5B, pruning.nncf on dataset/pytorch-regression-mlp, whole-file format, repair round 2 (session 5):
# the class, model and loop rewritten; the hyperparameters and every data statement left out.
import nncf
import torch
from torch import nn

class SequentialForNncf(nn.Sequential):
    """nn.Sequential that skips the hook storage nncf.prune adds to the model as a submodule."""

    def forward(self, x):
        for module in self._modules.values():
            if type(module).__name__ != "HookStorage":
                x = module(x)
        return x


model = SequentialForNncf(nn.Linear(8, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                      nn.Linear(hidden_size, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.MSELoss()

# Magnitude pruning masks on every Linear/Conv weight; training goes on with the masks applied.
model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=X[:1600])
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
    print(f"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val mse {val_mse:.4f}")

torch.save(model.state_dict(), "mlp_regressor.pt")
with open("metrics.json", "w") as f:
    json.dump({"val_mse": val_mse, "epochs": epochs}, f)
print(f"final val mse: {val_mse:.4f}")
