from . import Action

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
)
