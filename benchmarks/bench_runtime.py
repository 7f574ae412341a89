"""What obskit.runtime's GC hook costs per collection, and that spans pay nothing for it.

Run:  python benchmarks/bench_runtime.py [--repeat 15] [--number 20000] [--json] [--check]

Each scenario times `gc.collect(0)` on a near-empty young generation -- the cheapest
collection there is, so the hook's fixed cost shows at its largest -- with scenarios
interleaved across repeats (min of the repeats is reported, the usual estimator for a
micro-benchmark's noise floor). The budget (issue 6) is <= 2 us added per collection with
no span recording. `--check` exits 1 when the budget is exceeded.

The second table times one `obskit.span()` enter/exit with runtime on and off: the hook is
not on that path, so the two should agree within noise.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import TracerProvider

import obskit
from obskit import _routing as _providers
from obskit import runtime

BUDGET_US = 2.0
YOUNG_OBJECTS = gc.get_threshold()[0]  # 700 on CPython 3.11


@contextmanager
def _scenario(name: str, provider: TracerProvider) -> Iterator[None]:
    if name == "bare":
        yield
        return
    runtime.enable()
    try:
        if name == "hook, span recording":
            with obskit.span("bench.outer"):
                gc.collect(0)  # the one event this span gets for generation 0
                yield
        else:
            yield
    finally:
        runtime.disable()


def _time(func: Callable[[], object], number: int) -> float:
    return timeit.timeit(func, number=number) / number


def _young_cycle() -> None:
    # What a program does between two automatic young collections: allocate about
    # `threshold` containers (here cyclic garbage), then collect them.
    for _ in range(YOUNG_OBJECTS):
        node: list[object] = []
        node.append(node)
    gc.collect(0)


def collection_costs(repeat: int, number: int) -> dict[str, float]:
    """Seconds per collection, min over `repeat` interleaved rounds, per scenario.

    Keys: "<scenario>" for an empty young collection, "<scenario>, full young" for one
    that frees `YOUNG_OBJECTS` cyclic containers.
    """
    provider = TracerProvider()
    scenarios = ("bare", "hook, no span", "hook, span recording")
    best: dict[str, float] = {}
    collect = gc.collect
    threshold = gc.get_threshold()
    gc.disable()  # only the collections we time, none triggered by the harness
    try:
        with _providers.swapped(provider, None):
            for _ in range(repeat):
                for name in scenarios:
                    with _scenario(name, provider):
                        empty = _time(lambda: collect(0), number)
                        full = _time(_young_cycle, max(1, number // 50))
                    best[name] = min(best.get(name, float("inf")), empty)
                    key = f"{name}, full young"
                    best[key] = min(best.get(key, float("inf")), full)
    finally:
        gc.enable()
        gc.set_threshold(*threshold)
    return best


def span_costs(repeat: int, number: int) -> dict[str, float]:
    """Seconds per `obskit.span()` enter/exit with runtime off and on."""
    provider = TracerProvider()

    def one_span() -> None:
        with obskit.span("bench.span"):
            pass

    best = {"runtime off": float("inf"), "runtime on": float("inf")}
    with _providers.swapped(provider, None):
        for _ in range(repeat):
            best["runtime off"] = min(best["runtime off"], _time(one_span, number))
            runtime.enable()
            try:
                best["runtime on"] = min(best["runtime on"], _time(one_span, number))
            finally:
                runtime.disable()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 over the 2 us budget")
    args = parser.parse_args(argv)

    collections = collection_costs(args.repeat, args.number)
    spans = span_costs(args.repeat, max(1, args.number // 4))
    bare = collections["bare"]
    overhead_us = (collections["hook, no span"] - bare) * 1e6
    result = {
        "python": sys.version.split()[0],
        "collect_us": {name: cost * 1e6 for name, cost in collections.items()},
        "overhead_no_span_us": overhead_us,
        "overhead_span_us": (collections["hook, span recording"] - bare) * 1e6,
        "ratio_no_span": collections["hook, no span"] / bare,
        "ratio_no_span_full_young": collections["hook, no span, full young"]
        / collections["bare, full young"],
        "span_us": {name: cost * 1e6 for name, cost in spans.items()},
        "budget_us": BUDGET_US,
        "within_budget": overhead_us <= BUDGET_US,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"gc.collect(0), {args.number} calls x {args.repeat} rounds (min), Python {result['python']}"
        )
        for name, cost in result["collect_us"].items():
            base = result["collect_us"]["bare, full young" if "full" in name else "bare"]
            print(f"  {name:<36} {cost:9.3f} us  x{cost / base:.3f}")
        print(
            f"GC hook overhead, no span:   {overhead_us:6.3f} us per collection "
            f"(ratio {result['ratio_no_span']:.2f}; budget {BUDGET_US} us: "
            f"{'ok' if result['within_budget'] else 'EXCEEDED'})"
        )
        print(f"GC hook overhead, in a span: {result['overhead_span_us']:6.3f} us per collection")
        print(
            f"Ratio on a young collection freeing {YOUNG_OBJECTS} objects: "
            f"{result['ratio_no_span_full_young']:.3f}"
        )
        print("obskit.span() enter/exit:")
        for name, cost in result["span_us"].items():
            print(f"  {name:<24} {cost:8.3f} us")
    return 1 if args.check and not result["within_budget"] else 0


if __name__ == "__main__":
    sys.exit(main())
