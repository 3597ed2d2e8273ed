"""Long fuzzing run of every codemod, for the reliability note (the CI run is tests/fuzz).

Same properties and inputs as ``tests/fuzz`` (mutated dataset scripts, hypothesmith code spliced
into them, generated programs through every framework's codemods), but random, many more
examples, and every violation recorded instead of stopping at the first:

    python benchmarks/fuzz_codemods.py --examples 500 [--seed 1] [--out fuzz.json]

Prints examples tried per input kind and each distinct violation with a reproducing input file.
Exit status 1 when a violation was found.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz.fuzzing import (  # noqa: E402
    ACTIONS,
    FRAMEWORKS_WITH_CODEMODS,
    generated_programs,
    mutated_scripts,
    spliced_scripts,
    violations,
)

warnings.filterwarnings("ignore", module="hypothesmith")


def run(kind: str, strategy, examples: int, random_seed: int, found: dict, tried: Counter, keep: Path) -> None:
    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def explore(case) -> None:
        source, action_id, framework = case
        tried[kind] += 1
        for violation in violations(source, action_id, framework=framework):
            key = (action_id, violation.split(":")[0][:100])
            if key not in found:
                path = keep / f"violation-{len(found)}.py"
                path.write_text(source, encoding="utf-8", newline="")
                found[key] = {"kind": kind, "action": action_id, "framework": framework,
                              "violation": violation, "input": str(path), "count": 0}
            found[key]["count"] += 1

    explore()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per input kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write counts and violations as JSON")
    args = parser.parse_args()
    keep = Path(tempfile.mkdtemp(prefix="mlops-lsp-fuzz-"))
    kinds = {
        "mutated": mutated_scripts().map(lambda c: (c[0], c[1], None)),
        "spliced": spliced_scripts().map(lambda c: (c[0], c[1], None)),
        "generated": st.tuples(generated_programs(), st.sampled_from(ACTIONS), st.sampled_from(FRAMEWORKS_WITH_CODEMODS)),
    }
    found: dict = {}
    tried: Counter = Counter()
    started = time.perf_counter()
    for kind, strategy in kinds.items():
        run(kind, strategy, args.examples, args.seed, found, tried, keep)
        print(f"{kind}: {tried[kind]} examples, {time.perf_counter() - started:.0f} s so far", flush=True)
    print(f"examples: {sum(tried.values())} ({dict(tried)}); distinct violations: {len(found)}")
    for item in found.values():
        print(f"- [{item['kind']}] {item['action']} x{item['count']}: {item['violation'][:200]} (input: {item['input']})")
    if args.out:
        args.out.write_text(json.dumps({"tried": tried, "violations": list(found.values())}, indent=2))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
