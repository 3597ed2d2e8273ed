from . import Action, Example
from ._torch_loop import TORCH_TRAINING_LOOP

ACTION = Action(
    id='pruning.nncf',
    title='MLOps: Add during-training pruning with NNCF',
    kind='inline',
    library='nncf',
    frameworks=('pytorch',),
    checker="mlops_lsp.bench.checkers.pruning_nncf:check",
    task=(
        'Add during-training magnitude pruning with NNCF 3.x: nncf.prune(...) puts magnitude pruning masks (ratio 0.5) on the model\'s Linear/Conv weights before or during training, and the model trains on with the masks.'
    ),
    requires=(
        (r"nncf\.prune\(", "nothing is pruned: call nncf.prune(model, ...) before or during training"),
    ),
    during_training=(
        r"nncf\.prune$",
        "nncf.prune runs after training, so the pruned model never trains: call it before the training loop "
        "and create the optimizer after it",
    ),
    example=Example(
        before=TORCH_TRAINING_LOOP,
        after='''\
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


model = SequentialForNncf(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
x, y = torch.randn(64, 8), torch.randn(64, 1)
# Magnitude pruning masks on every Linear/Conv weight; training goes on with the masks applied.
model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=x[:1])
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
epochs = 4
for epoch in range(epochs):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
torch.save(model.state_dict(), "model.pt")
''',
    ),
)
