"""Grammar-aware fuzzing: whatever the text, resdsl answers with a ResdslError or a network that
analyzes, draws, generates importable source, compiles and runs — and agrees with itself.

A fixed, bounded run here (``derandomize``: the same cases every time, about a minute on 2 cores);
``bench/fuzz.py`` runs as many random ones as you like and counts distinct failures.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings

from spec_strategies import exercise, specs

OUTCOMES: Counter[str] = Counter()


@settings(max_examples=1800, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs())
def test_any_spec_gets_an_answer_or_a_clear_error(text: str) -> None:
    OUTCOMES[exercise(text)] += 1


def test_the_fuzz_reaches_both_outcomes() -> None:
    """A generator that only made broken specs (or only valid ones) would test little."""
    print(dict(OUTCOMES))
    assert OUTCOMES["accepted"] >= 100 and OUTCOMES["refused"] >= 100, OUTCOMES
