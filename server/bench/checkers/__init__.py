"""Generic per-action checkers of the benchmark (one module per action, named by `Action.checker`).

Each action module exposes `CHECKS` (the names of its checks, in order), optionally
`LIBRARY_MODULES` (modules whose import at run time proves the target library is used; default the
action's `library`), and `check(ctx: runner.CheckContext) -> dict[str, tuple[bool, str]]`, called
only after the script finished with exit 0. The common checks (parses, runs, behaviour kept, ...)
live in `runner`. Anything that needs a heavy library runs in a probe subprocess (`ctx.probe`):
`probe_mlflow`, `wandb_reader`. Keep this package's import light: probes start with it.
"""
