"""The latency gate's figures and verdict: pure Python, no TensorFlow.

The infra validator (``components.infra_validator``) times gRPC Predict on
the candidate and on the currently pushed version; ``RunConfig`` holds the
budget and the allowed slowdown (``pipeline.config``). Both read the figure
names and the rules here, so they have one home.

Figures: ``p50_b1``, ``p99_b1``, ``p50_b64``, ``p99_b64``: the 50th and
99th percentile of one Predict call's wall time, in milliseconds, with 1
and with 64 examples per call. Timings on a shared machine are noisy, so
each figure is measured in several rounds that alternate candidate and
current version (load from other work falls on both alike), and the figure
is the median over rounds of that round's percentile; a candidate fails the
comparison only when it is slower than ``current * (1 + max_slowdown) +
margin_ms``, the margin absorbing jitter of sub-millisecond calls.
"""
from __future__ import annotations

import statistics
from typing import Dict, List, Mapping, Optional, Sequence

BATCH_SIZES = {"b1": 1, "b64": 64}
PERCENTILES = {"p50": 50.0, "p99": 99.0}
FIGURES = tuple(f"{p}_{b}" for b in BATCH_SIZES for p in PERCENTILES)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q``th percentile (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(rounds: Mapping[str, Sequence[Sequence[float]]]) -> Dict[str, float]:
    """``{batch key: [per-round call times in ms]}`` -> ``{figure: ms}``:
    per round the percentile, then the median over rounds."""
    out = {}
    for batch, per_round in rounds.items():
        for name, q in PERCENTILES.items():
            out[f"{name}_{batch}"] = statistics.median(percentile(r, q) for r in per_round)
    return out


def check_settings(budget_ms: Mapping[str, float], max_slowdown: Optional[float],
                   margin_ms: float, prefix: str = "") -> None:
    """Raises ``ValueError`` naming the first bad setting (``prefix`` + field)."""
    for figure, limit in budget_ms.items():
        if figure not in FIGURES:
            raise ValueError(f"{prefix}latency_budget_ms: unknown figure {figure!r}; "
                             f"expected some of: {', '.join(FIGURES)}")
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not limit > 0:
            raise ValueError(f"{prefix}latency_budget_ms[{figure!r}] must be a number of "
                             f"milliseconds > 0, got {limit!r}")
    if max_slowdown is not None and (isinstance(max_slowdown, bool)
                                     or not isinstance(max_slowdown, (int, float))
                                     or not max_slowdown >= 0):
        raise ValueError(f"{prefix}max_latency_slowdown must be a share >= 0 (0.5 = 50% "
                         f"slower allowed) or null to compare with the budget only, "
                         f"got {max_slowdown!r}")
    if isinstance(margin_ms, bool) or not isinstance(margin_ms, (int, float)) \
            or not margin_ms >= 0:
        raise ValueError(f"{prefix}latency_margin_ms must be >= 0, got {margin_ms!r}")


def judge(candidate: Mapping[str, float], current: Optional[Mapping[str, float]],
          budget_ms: Mapping[str, float], max_slowdown: Optional[float],
          margin_ms: float) -> List[str]:
    """Every failed figure, in words with the amount; [] when the candidate passes."""
    failures = []
    for figure in FIGURES:
        value = candidate.get(figure)
        if value is None:
            continue
        limit = budget_ms.get(figure)
        if limit is not None and value > limit:
            failures.append(f"{figure} {value:.2f} ms is over the budget {limit:g} ms by "
                            f"{value - limit:.2f} ms ({(value / limit - 1) * 100:.0f}%)")
        if current is not None and max_slowdown is not None and figure in current:
            base = current[figure]
            allowed = base * (1 + max_slowdown) + margin_ms
            if value > allowed:
                failures.append(
                    f"{figure} {value:.2f} ms is {(value / base - 1) * 100:.0f}% slower than "
                    f"the current version's {base:.2f} ms (allowed {max_slowdown * 100:g}% "
                    f"+ {margin_ms:g} ms margin = {allowed:.2f} ms; over by "
                    f"{value - allowed:.2f} ms)")
    return failures
