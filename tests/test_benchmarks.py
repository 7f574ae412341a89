"""The benchmark suite measures what its rows name, and says so when a case is missing.

No timing here: each case of a row is run once, in the context the benchmark times it in,
and what it produced (spans, metric points, the span class) is checked against what the
row's name says it measures.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import obskit
from obskit._export import slim as _slim

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _bench_harness  # noqa: E402
import bench_calls  # noqa: E402
import bench_domains  # noqa: E402
import bench_export  # noqa: E402
import bench_workloads  # noqa: E402
import run as bench_run  # noqa: E402


class Keep(SpanExporter):
    """Keeps every exported span."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@pytest.fixture
def providers() -> Iterator[tuple[bench_domains.Providers, Keep]]:
    keep = Keep()
    made = bench_domains.Providers(exporter=lambda: keep)
    yield made, keep
    made.shutdown()


def _obskit_spans(keep: Keep) -> list[ReadableSpan]:
    """What obskit ended (the raw SDK cases' set-up spans come from `bench.sdk`)."""
    return [s for s in keep.spans if s.instrumentation_scope.name != "bench.sdk"]


def _run_once(case: _bench_harness.Case) -> None:
    with case.context():
        exec(case.stmt, dict(case.namespace))  # what timeit runs, once


def _flush(made: bench_domains.Providers) -> None:
    for provider in (made.unsampled, made.sampled, made.sdk_spans):
        provider.force_flush()


def _points(made: bench_domains.Providers) -> set[str]:
    """Names of the metrics that have a data point with a count or value."""
    data = made.reader.get_metrics_data()
    names = set()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if any(
                    getattr(p, "count", getattr(p, "value", 0)) for p in metric.data.data_points
                ):
                    names.add(metric.name)
    return names


#: The span each row's sampled obskit case must end (its name, by prefix).
SPAN = {
    "btree get": "btree.get",
    "btree put": "btree.put",
    "btree delete": "btree.delete",
    "btree scan (20 keys)": "btree.scan",
    "pipeline step": "pipeline.",
    "raft client RPC": "raft.",
    "raft server RPC": "raft.",
    "raft propose -> commit": "raft.propose",
    "query phase": "query.plan",
    "query lifecycle, 4 phases + 5 fragments": "query.",
}


@pytest.mark.parametrize("row", bench_domains.ROWS)
def test_sampled_domain_case_ends_the_span_it_names(
    row: str, providers: tuple[bench_domains.Providers, Keep]
) -> None:
    made, keep = providers
    _run_once(bench_domains.row_cases(row, made)["obskit sampled"])
    _flush(made)
    names = [span.name for span in _obskit_spans(keep)]
    assert any(name.startswith(SPAN[row]) for name in names), names


def test_query_phase_row_times_a_phase_inside_a_routed_lifecycle(
    providers: tuple[bench_domains.Providers, Keep],
) -> None:
    """The row used to build its lifecycle before routing: every phase was the disabled
    pass-through, and the row timed nothing."""
    made, keep = providers
    _run_once(bench_domains.row_cases("query phase", made)["obskit sampled"])
    _flush(made)
    by_name = {span.name: span for span in keep.spans}
    phase = by_name["query.plan"]
    root = next(span for span in keep.spans if span.name == "SELECT t" and span.parent is None
                and span.context.trace_id == phase.context.trace_id)  # fmt: skip
    assert phase.parent is not None
    assert phase.parent.span_id == root.context.span_id
    assert "query.phase.duration" in _points(made)


@pytest.mark.parametrize("row", bench_domains.ROWS)
def test_unsampled_domain_case_records_metrics_and_no_span(
    row: str, providers: tuple[bench_domains.Providers, Keep]
) -> None:
    made, keep = providers
    _run_once(bench_domains.row_cases(row, made)["obskit unsampled"])
    _flush(made)
    assert [s.name for s in _obskit_spans(keep) if s.context.trace_flags.sampled] == []
    assert _points(made), "an unsampled domain operation still records its metrics"


@pytest.mark.parametrize("row", bench_domains.ROWS)
def test_disabled_domain_case_records_nothing(
    row: str, providers: tuple[bench_domains.Providers, Keep]
) -> None:
    made, keep = providers
    _run_once(bench_domains.row_cases(row, made)["obskit disabled"])
    _flush(made)
    assert _obskit_spans(keep) == []
    assert not any(name.startswith(("btree.", "raft.", "query.")) for name in _points(made))


def test_every_domain_row_has_every_case(
    providers: tuple[bench_domains.Providers, Keep],
) -> None:
    made, _ = providers
    for row in bench_domains.ROWS:
        cases = list(bench_domains.row_cases(row, made))
        assert cases[: len(bench_domains.CASES)] == list(bench_domains.CASES), row


def _current_span_class(context: Any) -> type:
    probe = obskit.traced("probe")(lambda: type(trace_api.get_current_span()))
    with context():
        return probe()  # type: ignore[no-any-return]


def test_call_rows_name_the_span_configuration_they_run() -> None:
    """Rows without "SDK spans" run obskit's recorder (the default), the others SDK spans,
    whatever OBSKIT_SLIM_SPANS says in the environment."""
    switch = _slim.ENABLED
    cases = bench_calls.span_cases(1.0)
    for name, case in cases.items():
        if not name.startswith(("obskit", "with obskit")):
            continue
        for setting in (True, False):  # the environment's choice must not matter
            _slim.ENABLED = setting
            try:
                kind = _current_span_class(case.context)
            finally:
                _slim.ENABLED = switch
            if bench_calls.SDK_SPANS in name:
                assert kind is not _slim.SlimSpan, name
            else:
                assert kind is _slim.SlimSpan, name


def test_domain_sampled_cases_name_their_span_configuration(
    providers: tuple[bench_domains.Providers, Keep],
) -> None:
    made, _ = providers
    assert _current_span_class(lambda: made.routed(True)) is _slim.SlimSpan
    assert _current_span_class(lambda: made.routed(True, recorder=False)) is not _slim.SlimSpan


# --- run.py: targets read the case they name, or say MISSING --------------------------------
def complete_results() -> dict[str, Any]:
    """Results with every case the targets and tables read, each 1 us (bare 10 ns)."""
    us = 1e-6

    def table(*names: str) -> dict[str, float]:
        return {"bare": 1e-8, **dict.fromkeys(names, us)}

    traced, raw = bench_run.TRACED, bench_run.RAW
    sdk_spans = bench_calls.SDK_SPANS
    rows = {
        row: {**table(*bench_domains.CASES[1:]), f"obskit sampled, {sdk_spans}": us}
        for row in bench_domains.ROWS
    }
    return {
        "machine": {"date": "2026-12-06", "cpu": "test", "nproc": "2", "python": "3.11",
                    "opentelemetry-sdk": "1", "prometheus_client": "1", "obskit": "0"},
        "quick": True,
        "seconds": 1.0,
        "calls": {
            "disabled": table("functools.wraps pass-through", "obskit @traced, not configured",
                              "OTel API without SDK @start_as_current_span"),
            "sampled_out": table(raw, traced, "obskit @traced, child of unsampled parent"),
            "sampled_in": table(raw, traced, "with obskit.span", f"{traced}, {sdk_spans}"),
            "scrubbing": table("@traced(record_args=2 str), scrubbing on"),
        },
        "metrics": {
            "counters": {"OTel SDK Counter.add(1, attrs)": us,
                         "obskit hot_counter().bind(attrs).add(1)": us},
            "histograms": {"OTel SDK Histogram.record(v, attrs)": us,
                           "obskit hot_histogram().bind(attrs).record(v)": us},
            "metrics_decorator": table(
                "obskit @timed (duration histogram + call counter)",
                "raw OTel SDK: perf_counter + Histogram.record + Counter.add"),
        },
        "export": {
            "encode": dict.fromkeys(bench_export.ENCODE.values(), 1e5),
            "export": {name: {"spans_per_second": 1e5, "delivered": 10.0, "dropped": 0.0}
                       for name in bench_export.EXPORT.values()},
            "retained_bytes_per_span": dict.fromkeys(bench_export.BYTES.values(), 500.0),
        },
        "domains": {"rows": rows, "workload": {bench_domains.WORKLOAD_BARE: 1.0,
                                               bench_domains.WORKLOAD_TRACED: 1.0}},
        "workloads": {
            "rows": {name: {"unit": "op", "units": 10,
                            "median": dict.fromkeys(bench_workloads.COLUMNS, us),
                            "samples": {c: [us] for c in bench_workloads.COLUMNS}}
                     for name in bench_workloads.WORKLOADS},
            "mixes": {name: {"btree get": 1.0} for name in bench_workloads.WORKLOADS},
        },
        "runtime": {"overhead_no_span_us": 1.0, "overhead_span_us": 1.0, "within_budget": True},
    }  # fmt: skip


def test_complete_results_miss_nothing() -> None:
    verdicts = [verdict for *_, verdict in bench_run.evaluate(complete_results())]
    assert "MISSING" not in verdicts
    assert "MISSING" not in bench_run.render(complete_results())


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (("calls", "sampled_in", "with obskit.span"), "3. sampled in"),
        (("calls", "sampled_in", f"{bench_run.TRACED}, {bench_calls.SDK_SPANS}"), "3. sampled in"),
        (("export", "export", bench_export.EXPORT["obskit"]), "6. export"),
        (("export", "retained_bytes_per_span", bench_export.BYTES["obskit"]), "7. memory"),
        (("domains", "rows", bench_domains.LIFECYCLE, f"obskit sampled, {bench_calls.SDK_SPANS}"),
         "domain, sampled: query lifecycle"),
        (("domains", "rows", "query phase", "obskit unsampled"), "domain, unsampled: query phase"),
        (("runtime",), "obskit.runtime GC hook"),
        (("workloads", "rows", bench_workloads.OOBTREE, "median", bench_workloads.BARE),
         f"whole workload: {bench_workloads.OOBTREE}"),
        (("workloads", "rows", bench_workloads.STREAMZ),
         f"whole workload: {bench_workloads.STREAMZ}"),
    ],
)  # fmt: skip
def test_a_missing_case_is_missing_never_another_case(path: tuple[str, ...], target: str) -> None:
    """run.py used to fall back to another row (`@traced` for `obskit.span`, SDK spans for
    the recorder): a missing case must say so."""
    results = complete_results()
    node = results
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    verdicts = {name: (measured, verdict) for name, _, measured, verdict in
                bench_run.evaluate(results)}  # fmt: skip
    missing = [name for name, (_, verdict) in verdicts.items() if verdict == "MISSING"]
    assert [name for name in missing if name.startswith(target)] == missing != []
    assert " / ".join(path) in verdicts[missing[0]][0]
    assert "MISSING" in bench_run.render(results)


def test_run_exits_1_when_a_case_is_missing(tmp_path: Path) -> None:
    results = complete_results()
    del results["calls"]["sampled_in"]["with obskit.span"]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(results))
    page = tmp_path / "performance.md"
    argv = ["--from-json", str(saved), "--output", str(page), "--no-chart"]
    assert bench_run.main(argv) == 1
    assert "MISSING" in page.read_text()
    saved.write_text(json.dumps(complete_results()))
    assert bench_run.main(argv) == 0


def test_chart_draws_every_panel_or_says_why_not(tmp_path: Path) -> None:
    import chart

    out = tmp_path / "bench.svg"
    problem = chart.draw(copy.deepcopy(complete_results()), out)
    if problem is not None:  # matplotlib is optional; the dev extra installs it
        assert "matplotlib" in problem
        return
    svg = out.read_text()
    for title, groups in chart.panels(complete_results()):
        assert title.split(",")[0].replace("'", "&#39;") in svg, title
        assert groups
    assert "missing" not in svg


def test_progress_writes_one_line_per_step() -> None:
    out = io.StringIO()
    progress = _bench_harness.Progress(2, out)
    steps = [_bench_harness.Step("a", lambda: 1, "first"), _bench_harness.Step("b", lambda: 2)]
    assert _bench_harness.run_steps(steps, progress, prefix="calls: ") == {"a": 1, "b": 2}
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "bench [1/2] calls: first",
        "bench [2/2] calls: b",
    ]
    assert all(line.endswith("s elapsed)") for line in lines)


# --- bench_workloads: each column runs what it names -----------------------------------------
IN_PROCESS = {
    bench_workloads.OOBTREE: lambda: bench_workloads.btree_workload("OOBTree", quick=True),
    bench_workloads.OOBTREE_PY: lambda: bench_workloads.btree_workload("OOBTreePy", quick=True),
    bench_workloads.STREAMZ: lambda: bench_workloads.streamz_workload(quick=True),
}


def _spans_and_metrics(telemetry: obskit.Telemetry) -> tuple[int, set[str]]:
    """Spans ended and the domain duration histograms with an observation, after a flush.

    (The pipeline's record counters are observable counters over every pipeline made in
    this process, earlier tests' included; the duration histograms count this run's calls.)
    """
    obskit.flush()
    data = telemetry.info["memory_metrics"].get_metrics_data()
    names = {metric.name for resource in (data.resource_metrics if data else ())
             for scope in resource.scope_metrics for metric in scope.metrics
             if any(getattr(point, "count", 0) for point in metric.data.data_points)}  # fmt: skip
    domain = {name for name in names if name.startswith(("btree.", "pipeline."))}
    return telemetry.span_counts()["ended"], domain


@pytest.mark.parametrize("workload", list(IN_PROCESS))
def test_bare_workload_makes_no_obskit_call(workload: str) -> None:
    """The bare column runs the undecorated calls: with obskit live and tracing every
    call, it ends no span and records no domain metric."""
    prepare = IN_PROCESS[workload]()
    telemetry = obskit.configure(service_name="t", exporters=["memory"], sample_ratio=1.0)
    try:
        prepare(bench_workloads.BARE)()
        assert _spans_and_metrics(telemetry) == (0, set())
    finally:
        obskit.shutdown()


@pytest.mark.parametrize("workload", list(IN_PROCESS))
def test_traced_workload_columns_trace_what_they_say(workload: str) -> None:
    """Every span: a span per decorated call (at least one per unit); 1% traced: a few,
    with metrics for every call; disabled: obskit off."""
    units = {bench_workloads.STREAMZ: 4_000}.get(workload, len(bench_workloads._plan(True)))
    prepare = IN_PROCESS[workload]()
    ended = {}
    for config in (bench_workloads.EVERY_SPAN, bench_workloads.ONE_PERCENT):
        bench_workloads._configure(config)
        try:
            prepare(config)()
            ended[config], metrics = _spans_and_metrics(obskit.telemetry())
            assert metrics, config
        finally:
            obskit.shutdown()
    assert ended[bench_workloads.EVERY_SPAN] >= units
    assert 0 < ended[bench_workloads.ONE_PERCENT] < ended[bench_workloads.EVERY_SPAN] / 20
    bench_workloads._configure(bench_workloads.DISABLED)
    try:
        assert obskit.telemetry().settings.enabled is False
        prepare(bench_workloads.DISABLED)()
    finally:
        obskit.shutdown()


def test_streamz_dag_runs_seven_decorated_steps_per_line() -> None:
    from obskit import pipeline

    prepare = bench_workloads.streamz_workload(quick=True)
    obskit.configure(service_name="t", exporters=["memory"], sample_ratio=0.01)
    try:
        assert prepare(bench_workloads.ONE_PERCENT)() == 4_000
        totals = pipeline.get("bench_logs").summary()
    finally:
        obskit.shutdown()
    steps = {name: t["in"] for name, t in totals.items() if name != "source"}
    assert len(steps) == bench_workloads.MIXES[bench_workloads.STREAMZ]["pipeline step"]
    assert steps == dict.fromkeys(steps, 4_000)


def test_uninstrumented_raft_nodes_run_no_obskit_code() -> None:
    """The Raft row's bare column: the nodes import the stand-in, which has every obskit
    name the example calls (a new call would fail in the node, never reach obskit)."""
    import ast
    import subprocess

    examples = BENCHMARKS.parent / "examples"
    env = {"PYTHONPATH": bench_workloads.RAFT_CONFIGS[bench_workloads.BARE]["PYTHONPATH"]}
    probe = ("import sys; sys.path.insert(1, sys.argv[1]); import _raftnode.node, obskit; "
             "print(obskit.__file__, getattr(obskit, 'UNINSTRUMENTED', False))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe, str(examples)], env=env, text=True,
                          capture_output=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == [
        str(BENCHMARKS / "_uninstrumented" / "obskit" / "__init__.py"),
        "True",
    ]
    stand_in = BENCHMARKS / "_uninstrumented" / "obskit"
    sys.path.insert(0, str(stand_in.parent))
    try:
        import importlib

        saved = {name: sys.modules.pop(name) for name in list(sys.modules)
                 if name == "obskit" or name.startswith("obskit.")}  # fmt: skip
        try:
            modules = {name: importlib.import_module(name) for name in
                       ("obskit", "obskit.raft", "obskit.propagation")}  # fmt: skip
        finally:
            for name in [n for n in sys.modules if n == "obskit" or n.startswith("obskit.")]:
                del sys.modules[name]
            sys.modules.update(saved)
    finally:
        sys.path.remove(str(stand_in.parent))
    used: dict[str, set[str]] = {"obskit": set(), "raft": set(), "propagation": set()}
    for path in (examples / "_raftnode").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in used):  # fmt: skip
                used[node.value.id].add(node.attr)
    for module, prefix in (("obskit", "obskit"), ("obskit.raft", "raft"),
                           ("obskit.propagation", "propagation")):  # fmt: skip
        assert used[prefix], prefix
        missing = {name for name in used[prefix] if not hasattr(modules[module], name)}
        assert not missing, f"{module} stand-in lacks {missing}"


def test_sum_of_rows_reads_the_rows_each_column_names() -> None:
    results = complete_results()
    workloads = {"mixes": {bench_workloads.STREAMZ: {"pipeline step": 7}}}
    domains = {"rows": {"pipeline step": {"bare": 0.0, "obskit unsampled": 1e-6,
                                          "obskit sampled": 3e-6}}}  # fmt: skip

    def rows(config: str) -> float | None:
        return bench_workloads.sum_of_rows(workloads, domains, bench_workloads.STREAMZ, config)

    assert rows(bench_workloads.ONE_PERCENT) == pytest.approx(7e-6)
    assert rows(bench_workloads.EVERY_SPAN) == pytest.approx(21e-6)
    assert bench_workloads.sum_of_rows(workloads, None, bench_workloads.STREAMZ,
                                       bench_workloads.ONE_PERCENT) is None  # fmt: skip
    assert "MISSING" not in "\n".join(bench_workloads.render(results["workloads"]))
