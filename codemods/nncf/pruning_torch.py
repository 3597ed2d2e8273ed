"""pruning.nncf for raw PyTorch training loops: NNCF 3.x magnitude pruning during training.

``nncf.prune`` needs example inputs to trace the model, and a codemod cannot build a batch that
fits an unknown model; so the helper records the model's first real input (a forward pre-hook)
while the first epoch trains the dense model, then, at the start of the second epoch, calls
``nncf.prune`` (per-tensor magnitude masks on every Conv/Linear/Embedding weight) and steps a
``MultiStepMagnitudePruningScheduler`` at the start of every epoch after that. A bare
``nn.Sequential`` (whose forward would call NNCF's hook storage as a layer) gets a subclass that
skips it; the object, its parameters and its state-dict keys stay the same.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports
from ..torch._pruning import find_epoch_loop, insert_helper, rewrite_loop

SCHEDULE_NAME = "nncf_pruning"

HELPER = '''\
class EpochNncfPruning:
    """During-training magnitude pruning with NNCF: the first epoch trains the dense models and
    records one input batch of each (NNCF traces a model with it); from the second epoch on, every
    Conv/Linear/Embedding weight gets a binary mask whose pruned share a scheduler, stepped at the
    start of each epoch, raises to RATIOS' last value. The masks stay on the models."""

    MODE = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL  # per tensor: every layer reaches the ratio
    RATIOS = {0: 0.4, 1: 0.5}  # pruned share per epoch of pruning (the scheduler needs key 0)

    def __init__(self, models):
        self.models = list(models)
        self.example_inputs = [None] * len(self.models)
        self.schedulers = [None] * len(self.models)
        self.recorders = []
        for position, model in enumerate(self.models):
            if type(model) is torch.nn.Sequential:
                model.__class__ = SequentialForNncf
            hook = model.register_forward_pre_hook(lambda module, args, position=position: self._record(position, args))
            self.recorders.append(hook)

    def _record(self, position, args):
        if self.example_inputs[position] is None and args:
            inputs = tuple(value.detach() if isinstance(value, torch.Tensor) else value for value in args)
            self.example_inputs[position] = inputs[0] if len(inputs) == 1 else inputs

    def epoch_start(self):
        for position, model in enumerate(self.models):
            if self.schedulers[position] is None and self.example_inputs[position] is not None:
                self.recorders[position].remove()
                training = model.training
                model.eval()  # trace without updating batch-norm statistics or dropping activations
                nncf.prune(model, mode=self.MODE, ratio=self.RATIOS[0], examples_inputs=self.example_inputs[position])
                model.train(training)
                # Checkpoints keep the usual keys (pruned weights, no mask buffers) and load back
                # into the pruned model (its masks kept) as into a plain one.
                model.register_state_dict_post_hook(_masked_weights_to_state_dict)
                model.register_load_state_dict_pre_hook(_current_masks_into_state_dict)
                self.schedulers[position] = MultiStepMagnitudePruningScheduler(model, mode=self.MODE, steps=self.RATIOS)
            if self.schedulers[position] is not None:
                self.schedulers[position].step()


def _masked_weights_to_state_dict(model, state_dict, prefix, local_metadata):
    hooks = prefix + "__nncf_hooks.post_hooks."
    for key in [key for key in state_dict if key.startswith(hooks) and key.endswith(".binary_mask")]:
        # "__nncf_hooks.post_hooks.encoder:0:weight__0.0.binary_mask" masks "encoder.0.weight"
        weight = prefix + key[len(hooks):].split("__")[0].replace(":", ".")
        mask = state_dict.pop(key)
        if weight in state_dict:
            state_dict[weight] = state_dict[weight] * mask


def _current_masks_into_state_dict(model, state_dict, prefix, *args):
    for name, buffer in model.named_buffers():
        if name.endswith(".binary_mask") and prefix + name not in state_dict:
            state_dict[prefix + name] = buffer


class SequentialForNncf(torch.nn.Sequential):
    """nn.Sequential whose forward skips the hook storage NNCF adds as a submodule."""

    def forward(self, input):
        for module in self._modules.values():
            if type(module).__name__ != "HookStorage":
                input = module(input)
        return input
'''


class TorchNncfPruning(ActionCodemod):
    """Insert an ``EpochNncfPruning`` helper, create it over the optimized model(s) before the
    epoch loop and step it first thing in each epoch."""

    ACTION = "pruning.nncf"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Add during-training magnitude pruning with NNCF to a PyTorch training loop"

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
import nncf
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler


''' + HELPER + '''

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randn(64, 1)

nncf_pruning = EpochNncfPruning([model])
for epoch in range(4):
    nncf_pruning.epoch_start()
    for start in range(0, 64, 16):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[start:start + 16]), y[start:start + 16])
        loss.backward()
        optimizer.step()

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
import nncf
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler


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
    nncf_pruning = EpochNncfPruning([model])
    for epoch in range(1, epochs + 1):
        nncf_pruning.epoch_start()
        print(epoch, train_epoch(model, optimizer, x, y))
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
import nncf
import torch

model = nncf.prune(torch.nn.Linear(4, 1), mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5)
''',
            reason="already uses nncf",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("nncf"):
            raise SkipFile("the script already uses nncf")
        if not imports.uses("torch"):
            raise SkipFile("the script does not use PyTorch")
        found = find_epoch_loop(tree, imports)
        tree = rewrite_loop(
            tree,
            found,
            before=f"{SCHEDULE_NAME} = EpochNncfPruning([{', '.join(found.models)}])\n",
            first=f"{SCHEDULE_NAME}.epoch_start()\n",
            after=None,
        )
        tree = insert_helper(tree, HELPER)
        AddImportsVisitor.add_needed_import(self.context, "torch")
        AddImportsVisitor.add_needed_import(self.context, "nncf")
        AddImportsVisitor.add_needed_import(
            self.context, "nncf.torch.function_hook.pruning.magnitude.schedulers", "MultiStepMagnitudePruningScheduler"
        )
        return tree
