"""The structural check that pruning runs during training (seen from Qwen2.5-Coder-1.5B: the prune
call placed after the epoch loop, so the pruned model never trains)."""

from mlops_lsp.actions import registry
from mlops_lsp.training_order import runs_after_training

PRUNE = registry()["pruning.torch"].during_training[0]
NNCF = registry()["pruning.nncf"].during_training[0]

LOOP = """\
for epoch in range(epochs):
    optimizer.zero_grad()
    loss_fn(model(x), y).backward()
    optimizer.step()
"""
PRUNE_ALL = """\
for layer in model.modules():
    prune.l1_unstructured(layer, name="weight", amount=0.5)
"""


def test_prune_after_the_loop_runs_after_training() -> None:
    assert runs_after_training(LOOP + PRUNE_ALL, PRUNE)


def test_prune_inside_the_loop_after_the_step_is_during_training() -> None:
    inside = LOOP + "    if epoch == epochs // 2:\n" + "".join(f"        {line}\n" for line in PRUNE_ALL.splitlines())
    assert not runs_after_training(inside, PRUNE)


def test_prune_in_a_nested_loop_of_the_training_loop_is_during_training() -> None:
    code = "for epoch in range(3):\n    for xb in batches:\n        opt.step()\n    for m in layers:\n        prune.l1_unstructured(m, 'weight', 0.2)\n"
    assert not runs_after_training(code, PRUNE)


def test_nncf_before_the_loop_is_during_training_and_after_it_is_not() -> None:
    call = "model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=x)\n"
    assert not runs_after_training(call + LOOP, NNCF)
    assert runs_after_training(LOOP + call, NNCF)


def test_fully_qualified_calls_match_and_other_calls_do_not() -> None:
    assert runs_after_training(LOOP + "torch.nn.utils.prune.l1_unstructured(layer, 'weight', 0.5)\n", PRUNE)
    assert not runs_after_training(LOOP + "prune.remove(layer, 'weight')\n", PRUNE)


def test_without_a_training_step_or_unparsable_code_nothing_is_claimed() -> None:
    assert not runs_after_training(PRUNE_ALL, PRUNE)
    assert not runs_after_training(LOOP + PRUNE_ALL + "def broken(:\n", PRUNE)
