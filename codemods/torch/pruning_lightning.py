"""pruning.torch for PyTorch Lightning: a small ``Callback`` added to every ``Trainer(...)``'s
``callbacks`` that prunes every Conv/Linear weight of the LightningModule per layer (L1 magnitude,
``torch.nn.utils.prune``) at the start of each epoch (none in the first, the final share by
mid-training, fine-tuning after) and makes the pruning permanent (``prune.remove``) when training
ends, before the script tests, evaluates or saves the model.

A custom callback rather than ``ModelPruning``: that one also prunes embeddings/biases by default
and applies its amount to the weights still unpruned at each call, which makes the final sparsity
depend on the schedule length; here the schedule is cumulative and per layer.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports
from .._tracking import lightning_trainer_calls, with_list_item
from ._pruning import insert_helper

HELPER = '''\
class EpochWeightPruning(Callback):
    """During-training L1 magnitude pruning (torch.nn.utils.prune), per layer on every Conv/Linear
    weight of the LightningModule: none in the first epoch, then the pruned share of each layer
    rises epoch by epoch to FINAL_AMOUNT at mid-training; the last epochs fine-tune the remaining
    weights. At the end of training the pruning is made permanent (the zeros stay in the weights)."""

    FINAL_AMOUNT = 0.5
    LAYER_TYPES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
                   torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)

    def __init__(self):
        self.amount = 0.0
        self.layers = []
        self.final_masks = {}

    def on_train_start(self, trainer, pl_module):
        # MultiheadAttention reads out_proj.weight without calling out_proj, so a mask there
        # would not be re-applied after each optimizer step: leave it dense.
        self.layers = [layer for layer in pl_module.modules() if isinstance(layer, self.LAYER_TYPES)
                       and type(layer).__name__ != "NonDynamicallyQuantizableLinear"]
        for layer in self.layers:
            # State dicts taken while pruning hold the masked weight under its usual key.
            layer.register_state_dict_post_hook(_masked_weight_to_state_dict)
            layer.register_load_state_dict_pre_hook(self._load_weight)

    def on_train_epoch_start(self, trainer, pl_module):
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        ramp = max(1, epochs // 2)
        wanted = self.FINAL_AMOUNT * min(1.0, trainer.current_epoch / ramp) if epochs > 1 else self.FINAL_AMOUNT
        if wanted <= self.amount:
            return
        # l1_unstructured on a pruned weight prunes a share of the entries still unpruned.
        share = (wanted - self.amount) / (1.0 - self.amount)
        for layer in self.layers:
            prune.l1_unstructured(layer, name="weight", amount=share)
        self.amount = wanted

    def on_train_end(self, trainer, pl_module):
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

_CALLBACK_MODULES = {"pytorch_lightning": "pytorch_lightning.callbacks", "lightning": "lightning.pytorch.callbacks"}


class LightningPruning(ActionCodemod):
    """Insert the ``EpochWeightPruning`` callback class and add an instance of it to the
    ``callbacks`` of every Lightning ``Trainer(...)``."""

    ACTION = "pruning.torch"
    FRAMEWORKS = ("lightning",)
    DESCRIPTION = "Add during-training L1 pruning (torch.nn.utils.prune) to a PyTorch Lightning script"

    EXAMPLES = [
        Example(
            before='''\
import lightning as L
import torch

from model import LitModel, loaders


def main():
    trainer = L.Trainer(max_epochs=4, logger=False)
    trainer.fit(LitModel(), *loaders())
    print(trainer.callback_metrics["val_loss"])
''',
            after='''\
import lightning as L
import torch

from model import LitModel, loaders
from lightning.pytorch.callbacks import Callback
from torch.nn.utils import prune


''' + HELPER + '''

def main():
    trainer = L.Trainer(max_epochs=4, logger=False, callbacks=[EpochWeightPruning()])
    trainer.fit(LitModel(), *loaders())
    print(trainer.callback_metrics["val_loss"])
''',
        ),
        Example(
            before='''\
import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping

from model import GAN

trainer = pl.Trainer(max_epochs=3, callbacks=[EarlyStopping("val_loss")])
trainer.fit(GAN())
''',
            after='''\
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, EarlyStopping

from model import GAN
import torch
from torch.nn.utils import prune


''' + HELPER + '''

trainer = pl.Trainer(max_epochs=3, callbacks=[EarlyStopping("val_loss"), EpochWeightPruning()])
trainer.fit(GAN())
''',
        ),
    ]
    DECLINES = [
        Decline(
            source='''\
import lightning as L
from lightning.pytorch.callbacks import ModelPruning

trainer = L.Trainer(max_epochs=3, callbacks=[ModelPruning("l1_unstructured", amount=0.5)])
''',
            reason="already prunes",
        ),
        Decline(
            source='''\
import lightning as L

from project import make_trainer

trainer = make_trainer()
''',
            reason="no Lightning Trainer(...) call",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("torch.nn.utils.prune") or any(q.endswith(".ModelPruning") for q in imports.names.values()):
            raise SkipFile("the script already prunes (torch.nn.utils.prune or ModelPruning)")
        sites = lightning_trainer_calls(tree, imports)
        if not sites:
            raise SkipFile("no Lightning Trainer(...) call found")
        packages = {(imports.qualified(site.call.func) or "").split(".")[0] for site in sites}
        if len(packages) != 1:
            raise SkipFile("the script mixes `lightning` and `pytorch_lightning` Trainers")
        callback_module = _CALLBACK_MODULES[packages.pop()]
        if "Callback" in imports.names and imports.names["Callback"] != f"{callback_module}.Callback":
            raise SkipFile("the name `Callback` is already bound to another class")
        replacements = {
            id(site.call): with_list_item(site.call, "callbacks", cst.parse_expression("EpochWeightPruning()"))
            for site in sites
        }
        tree = tree.visit(_ReplaceCalls(replacements))
        tree = insert_helper(tree, HELPER)
        AddImportsVisitor.add_needed_import(self.context, callback_module, "Callback")
        AddImportsVisitor.add_needed_import(self.context, "torch")
        AddImportsVisitor.add_needed_import(self.context, "torch.nn.utils", "prune")
        return tree


class _ReplaceCalls(cst.CSTTransformer):
    """Replace calls by identity (one pass, however many Trainer calls the script has)."""

    def __init__(self, replacements: dict[int, cst.Call]) -> None:
        super().__init__()
        self.replacements = replacements

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self.replacements.get(id(original_node), updated_node)
