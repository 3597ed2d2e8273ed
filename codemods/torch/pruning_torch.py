"""pruning.torch for raw PyTorch training loops: per-layer L1 magnitude pruning with
``torch.nn.utils.prune`` on every Conv/Linear weight of the trained model(s), raised at the start
of each epoch (none in the first, the final share by mid-training, fine-tuning after), made
permanent with ``prune.remove`` right after the epoch loop, before the script evaluates or saves.

Per-layer (not global) pruning because a global threshold can leave some layers almost dense.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports
from ._pruning import find_epoch_loop, insert_helper, rewrite_loop

SCHEDULE_NAME = "weight_pruning"

HELPER = '''\
class EpochWeightPruning:
    """During-training L1 magnitude pruning (torch.nn.utils.prune), per layer on every Conv/Linear
    weight of the trained models: none in the first epoch, then the pruned share of each layer
    rises epoch by epoch to FINAL_AMOUNT at mid-training; the last epochs fine-tune the remaining
    weights. finish() makes the pruning permanent (the zeros stay in the weights)."""

    FINAL_AMOUNT = 0.5
    LAYER_TYPES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
                   torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)

    def __init__(self, models, epochs=None):
        layers = {}
        for model in models:
            for layer in model.modules():
                # MultiheadAttention reads out_proj.weight without calling out_proj, so a mask
                # there would not be re-applied after each optimizer step: leave it dense.
                if isinstance(layer, self.LAYER_TYPES) and type(layer).__name__ != "NonDynamicallyQuantizableLinear":
                    layers[id(layer)] = layer
        self.layers = list(layers.values())
        self.epochs = epochs
        self.epoch = 0
        self.amount = 0.0
        self.final_masks = {}
        for layer in self.layers:
            # Checkpoints saved while pruning hold the masked weight under its usual key, so they
            # load into the model before, during and after pruning.
            layer.register_state_dict_post_hook(_masked_weight_to_state_dict)
            layer.register_load_state_dict_pre_hook(self._load_weight)

    def epoch_start(self):
        ramp = max(1, (self.epochs or 2) // 2)
        wanted = self.FINAL_AMOUNT * min(1.0, self.epoch / ramp) if self.epochs != 1 else self.FINAL_AMOUNT
        self.epoch += 1
        if wanted <= self.amount:
            return
        # l1_unstructured on a pruned weight prunes a share of the entries still unpruned.
        share = (wanted - self.amount) / (1.0 - self.amount)
        for layer in self.layers:
            prune.l1_unstructured(layer, name="weight", amount=share)
        self.amount = wanted

    def finish(self):
        for layer in self.layers:
            if hasattr(layer, "weight_orig"):
                self.final_masks[id(layer)] = layer.weight_mask
                prune.remove(layer, "weight")

    def _load_weight(self, layer, state_dict, prefix, *args):
        key = prefix + "weight"
        if key not in state_dict:
            return
        if hasattr(layer, "weight_orig"):  # loaded while pruning: keep the current mask
            state_dict[prefix + "weight_orig"] = state_dict.pop(key)
            state_dict[prefix + "weight_mask"] = layer.weight_mask
        elif id(layer) in self.final_masks:  # e.g. the best checkpoint reloaded: keep the pruned zeros
            state_dict[key] = state_dict[key] * self.final_masks[id(layer)]


def _masked_weight_to_state_dict(layer, state_dict, prefix, local_metadata):
    if prefix + "weight_orig" in state_dict:
        state_dict[prefix + "weight"] = state_dict.pop(prefix + "weight_orig") * state_dict.pop(prefix + "weight_mask")
'''


class TorchLoopPruning(ActionCodemod):
    """Insert an ``EpochWeightPruning`` helper, create it over the optimized model(s) before the
    epoch loop, step it first thing in each epoch and make the pruning permanent after the loop."""

    ACTION = "pruning.torch"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Add during-training L1 pruning (torch.nn.utils.prune) to a PyTorch training loop"

    EXAMPLES = [
        Example(
            before='''\
import torch
from torch import nn

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randn(64, 1)

for epoch in range(4):
    for start in range(0, 64, 16):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[start:start + 16]), y[start:start + 16])
        loss.backward()
        optimizer.step()

torch.save(model.state_dict(), "model.pt")
''',
            after='''\
import torch
from torch import nn
from torch.nn.utils import prune


''' + HELPER + '''

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randn(64, 1)

weight_pruning = EpochWeightPruning([model], epochs=len(range(4)))
for epoch in range(4):
    weight_pruning.epoch_start()
    for start in range(0, 64, 16):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[start:start + 16]), y[start:start + 16])
        loss.backward()
        optimizer.step()
weight_pruning.finish()

torch.save(model.state_dict(), "model.pt")
''',
        ),
        Example(
            before='''\
import torch


def train_epoch(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def main(epochs=3):
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters())
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    for epoch in range(1, epochs + 1):
        print(epoch, train_epoch(model, optimizer, x, y))
''',
            after='''\
import torch
from torch.nn.utils import prune


''' + HELPER + '''

def train_epoch(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def main(epochs=3):
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters())
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    weight_pruning = EpochWeightPruning([model], epochs=len(range(1, epochs + 1)))
    for epoch in range(1, epochs + 1):
        weight_pruning.epoch_start()
        print(epoch, train_epoch(model, optimizer, x, y))
    weight_pruning.finish()
''',
        ),
    ]
    DECLINES = [
        Decline(
            source='''\
import torch

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(8, 4)
while True:
    loss = model(x).pow(2).mean()
    loss.backward()
    optimizer.step()
''',
            reason="no epoch loop found",
        ),
        Decline(
            source='''\
import torch
from torch.nn.utils import prune

model = torch.nn.Linear(4, 1)
''',
            reason="already uses torch.nn.utils.prune",
        ),
        Decline(
            source='''\
import torch
from trainer import make_everything

model, optimizer = make_everything()
for epoch in range(3):
    for x in torch.randn(4, 8, 4):
        model(x).sum().backward()
        optimizer.step()
''',
            reason="no model found",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("torch.nn.utils.prune"):
            raise SkipFile("the script already uses torch.nn.utils.prune")
        if not imports.uses("torch"):
            raise SkipFile("the script does not use PyTorch")
        found = find_epoch_loop(tree, imports)
        epochs = f", epochs={found.epochs}" if found.epochs else ""
        tree = rewrite_loop(
            tree,
            found,
            before=f"{SCHEDULE_NAME} = EpochWeightPruning([{', '.join(found.models)}]{epochs})\n",
            first=f"{SCHEDULE_NAME}.epoch_start()\n",
            after=f"{SCHEDULE_NAME}.finish()\n",
        )
        tree = insert_helper(tree, HELPER)
        AddImportsVisitor.add_needed_import(self.context, "torch")
        AddImportsVisitor.add_needed_import(self.context, "torch.nn.utils", "prune")
        return tree
