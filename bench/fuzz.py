"""Fuzz resdsl for longer than CI does: random specs from the grammar-aware strategies of
tests/spec_strategies.py, each checked, analyzed, drawn, compiled and run (see ``exercise``).

    .venv/bin/python bench/fuzz.py [--examples 20000] [--seed N] [--no-torch]

Unlike the CI test, a failure does not stop the run: every escaped exception or disagreement is
counted by its kind and place, and one (shortest) spec is kept for each, so a run reports the
distinct bugs it found. Exit status 1 when there was any.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, given, seed, settings

from spec_strategies import exercise, specs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--no-torch", action="store_true", help="check, analyze and generate only (faster)")
    args = parser.parse_args()
    if not args.no_torch:
        import torch

        torch.set_num_threads(1)
    outcomes: Counter[str] = Counter()
    failures: dict[str, str] = {}  # kind and place → shortest spec

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs())
    def fuzz(text: str) -> None:
        try:
            outcomes[exercise(text, with_torch=not args.no_torch)] += 1
        except Exception as error:  # noqa: BLE001 - every escape is what we are counting
            frame = traceback.extract_tb(error.__traceback__)[-1]
            key = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            outcomes["failed"] += 1
            if key not in failures or len(text) < len(failures[key]):
                failures[key] = text

    start = time.perf_counter()
    fuzz()
    elapsed = time.perf_counter() - start
    total = sum(outcomes.values())
    print(f"seed {args.seed}: {total:,} specs in {elapsed:.0f} s: {outcomes['accepted']:,} accepted (and run), "
          f"{outcomes['refused']:,} refused with a ResdslError, {outcomes['failed']:,} failures, "
          f"{len(failures)} distinct")
    for key, text in sorted(failures.items()):
        print(f"\n{key}\n{text}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
