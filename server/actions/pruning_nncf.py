from . import Action

ACTION = Action(
    id='pruning.nncf',
    title='MLOps: Add during-training pruning with NNCF',
    kind='inline',
    library='nncf',
    frameworks=('pytorch',),
    checker="mlops_lsp.bench.checkers.pruning_nncf:check",
    task=(
        'Add during-training magnitude pruning with NNCF 3.x: nncf.prune(...) on the model with a magnitude pruning scheduler stepped every epoch, so that the model trains on with pruning masks and reaches the target sparsity.'
    ),
)
