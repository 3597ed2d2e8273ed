"""Wall time and output tokens of model actions: the region edit format against whole-file rewriting.

    python benchmarks/model_action_cost.py --model llama-cpp:/path/model.gguf \
        --pair sklearn-tree-regression:tracking.mlflow --pair pytorch-regression-mlp:tracking.wandb

Each (case, action) pair is adapted once per edit format through ``mlops_lsp.core.adapt`` (the
same path as the editor), with the bench's defaults (temperature 0.2, seed 0, docprompt retrieval).
Prints one row per run and, per format, the median wall time and the summed completion tokens;
``--json-out`` keeps the rows. Runs one model call at a time: the local model uses every core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from mlops_lsp.core import adapt
from mlops_lsp.options import Options

DATASET = Path(__file__).resolve().parents[1] / "dataset"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="SPEC")
    parser.add_argument("--pair", action="append", required=True, metavar="CASE:ACTION")
    parser.add_argument("--formats", nargs="+", default=["region", "whole"])
    parser.add_argument("--retrieval", default="docprompt")
    parser.add_argument("--repair-rounds", type=int, default=0,
                        help="0 (default) compares one answer per format; repairs add tokens that depend on luck")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    rows = []
    for pair in args.pair:
        case, _, action = pair.partition(":")
        source = (DATASET / case / "train.py").read_text(encoding="utf-8")
        for edit_format in args.formats:
            options = Options(strategy="llm", model=args.model, retrieval=args.retrieval, edit_format=edit_format,
                              temperature=0.2, seed=0, timeout=600.0, repair_rounds=args.repair_rounds)
            started = time.monotonic()
            result = adapt(source, action, options)
            row = {"case": case, "action": action, "format": edit_format, "lines": len(source.splitlines()),
                   "status": result.status, "seconds": round(time.monotonic() - started, 1), **result.tokens,
                   "message": result.message}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for edit_format in args.formats:
        mine = [r for r in rows if r["format"] == edit_format]
        print(f"{edit_format}: median {statistics.median(r['seconds'] for r in mine):.1f} s, "
              f"completion tokens {sum(r['completion'] for r in mine)}, ok {sum(r['status'] == 'ok' for r in mine)}/{len(mine)}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
