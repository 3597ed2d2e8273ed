from . import Action, Example
from ._torch_loop import TORCH_TRAINING_LOOP

ACTION = Action(
    id='pruning.torch',
    title='MLOps: Add during-training pruning with torch.nn.utils.prune',
    kind='inline',
    library='torch',
    frameworks=('pytorch', 'lightning'),
    checker="mlops_lsp.bench.checkers.pruning_torch:check",
    task=(
        'Add during-training pruning with torch.nn.utils.prune: L1 unstructured pruning (global or per layer) applied on a schedule during training, made permanent with prune.remove at the end.'
    ),
    requires=(
        (r"prune\.(l1_unstructured|global_unstructured|random_unstructured|ln_structured)\(",
         "nothing is pruned: call prune.l1_unstructured(...) on the Linear/Conv layers during training"),
    ),
    during_training=(
        r"prune\.(l1_unstructured|global_unstructured|random_unstructured|ln_structured)$",
        "the pruning runs after training, so the pruned model never trains: prune inside the epoch loop "
        "(`if epoch == epochs // 2:`) so the last epochs train the pruned model",
    ),
    example=Example(
        before=TORCH_TRAINING_LOOP,
        after='''\
import torch
from torch import nn
import torch.nn.utils.prune as prune

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randn(64, 1)
epochs = 4
for epoch in range(epochs):
    if epoch == epochs // 2:
        # Prune half of the weights of every Linear/Conv layer mid-training; the last epochs fine-tune.
        for layer in model.modules():
            if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                prune.l1_unstructured(layer, name="weight", amount=0.5)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
# Make the pruning permanent: the zeros stay in the saved weights.
for layer in model.modules():
    if hasattr(layer, "weight_mask"):
        prune.remove(layer, "weight")
torch.save(model.state_dict(), "model.pt")
''',
    ),
)
