"""Run an example script against the session's Jaeger and Prometheus, scraped to the end.

An example configures obskit, does its work and shuts down within seconds, while
Prometheus scrapes every second and discovers a new target only 2-6 s after it is added.
`ExampleRun` starts the example with the `_hold/sitecustomize.py` hook on PYTHONPATH:
every process the example starts (node and worker processes too) announces its
Prometheus endpoint when it configures obskit, and waits inside `obskit.shutdown()`
after exporting its spans. A watcher thread makes each announced endpoint a target of
job `run.job` at once, and releases a waiting process as soon as Prometheus has scraped
it after it began to wait, so the final values of its metrics are stored.

    with ExampleRun("raft.py", jaeger, prometheus, tmp_path) as run:
        run.wait_exit()
    prometheus.query(f'last_over_time(raft_term{{job="{run.job}"}}[10m])')
    run.traces(jaeger, "raft-node-1")

The example's targets are gone once it exited (Prometheus marks their series stale), so
read its metrics with `last_over_time(...[10m])` or range queries over
`run.started`..`run.ended`, which `run.query_range` does.

Every process of a run carries the resource attribute `obskit.test.run=<run.id>`, so
tests sharing one Jaeger tell their traces apart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from _backends import BackendTimeout, Jaeger, Prometheus, Trace, poll

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
HOLD = Path(__file__).resolve().parent / "_hold"
RUN_ATTRIBUTE = "obskit.test.run"
WATCH_INTERVAL = 0.2  # seconds between two looks at the hold directory and Prometheus
RUN_TIMEOUT = 180.0  # the longest an example may run, holds included
STACK_SIGNAL = signal.SIGUSR1  # _hold/sitecustomize.py dumps every thread's stack on it
STACK_WAIT = 10.0  # seconds to wait for the stacks of an example given up on


def example_env(
    jaeger: Jaeger, hold_dir: Path, run_id: str, protocol: str = "http/protobuf"
) -> dict[str, str]:
    """Environment for an example: traces to Jaeger over OTLP, metrics on /metrics."""
    endpoint = (jaeger.otlp_http_endpoint if protocol == "http/protobuf"
                else f"http://{jaeger.otlp_grpc_endpoint}")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBSKIT_"))}
    python_path = [str(HOLD), env.get("PYTHONPATH", "")]
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in python_path if p),
        OBSKIT_EXAMPLE_HOLD_DIR=str(hold_dir),
        OBSKIT_EXAMPLE_HOLD_TIMEOUT="60",
        OBSKIT_EXPORTERS="otlp,prometheus",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OBSKIT_PROMETHEUS_HOST="127.0.0.1",
        OBSKIT_PROMETHEUS_PORT="0",
        OBSKIT_SHUTDOWN_TIMEOUT="10",
        OTEL_BSP_SCHEDULE_DELAY="100",  # ms: spans reach Jaeger soon after they end
        OTEL_RESOURCE_ATTRIBUTES=f"{RUN_ATTRIBUTE}={run_id}",
        PYTHONUNBUFFERED="1",
    )
    return env


class ExampleRun:
    """One run of `examples/<script>`, every process scraped by Prometheus to the end."""

    def __init__(
        self,
        script: str,
        jaeger: Jaeger,
        prometheus: Prometheus,
        workdir: Path,
        *args: str,
        protocol: str = "http/protobuf",
        env: dict[str, str] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:10]
        self.job = f"{Path(script).stem}-{self.id}"
        self.script = EXAMPLES / script
        self.args = args
        self.prometheus = prometheus
        self.hold_dir = workdir / f"hold-{self.id}"
        self.hold_dir.mkdir(parents=True)
        self.env = example_env(jaeger, self.hold_dir, self.id, protocol) | (env or {})
        self.output_path = workdir / f"{self.job}.log"
        self.returncode: int | None = None
        self.started = self.ended = 0.0
        self.released: list[int] = []  # pids let go after their final scrape
        self._process: subprocess.Popen[bytes] | None = None
        self._targets: dict[int, str] = {}  # pid -> 127.0.0.1:port
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"watch-{self.job}", daemon=True)
        self._watch_error: BaseException | None = None

    def __enter__(self) -> ExampleRun:
        self.started = time.time()
        with self.output_path.open("wb") as out:
            self._process = subprocess.Popen(
                [sys.executable, str(self.script), *self.args],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,  # its own process group
            )  # fmt: skip
        self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(check=exc_type is None)

    @property
    def output(self) -> str:
        """What the example printed (stdout and stderr) so far."""
        return self.output_path.read_text(errors="replace")

    def processes(self, suffix: str = "json") -> list[dict[str, Any]]:
        """The processes that configured obskit ("json") or began to wait in shutdown ("held")."""
        return [json.loads(p.read_text()) for p in sorted(self.hold_dir.glob(f"*.{suffix}"))]

    def wait_exit(self, timeout: float = RUN_TIMEOUT) -> int:
        """Wait until the example exited (every process scraped to the end); its exit code."""
        assert self._process is not None, "use ExampleRun as a context manager"
        try:
            self.returncode = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = self.stacks()
            self._kill()
            raise BackendTimeout(
                f"{self.script.name} still running after {timeout:g}s:\n{self.output[-4000:]}"
                f"\n{stacks}"
            ) from None
        self.ended = time.time()
        self.stop()
        assert self._targets, f"no process of {self.script.name} served /metrics:\n{self.output}"
        missing = {p["pid"] for p in self.processes("held")} - set(self.released)
        assert not missing, f"processes {missing} exited before their final scrape"
        return self.returncode

    def stop(self, check: bool = True) -> None:
        """Stop watching, release every process, remove the targets, end the group."""
        self._stop.set()
        (self.hold_dir / "release").touch()
        if self._watcher.is_alive():
            self._watcher.join(10)
        for address in self._targets.values():
            self.prometheus.remove_target(self.job, address)
        hung = ""
        if self._process is not None and self._process.poll() is None:
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                hung = self.stacks()
                self._kill()
        if self._process is not None:
            self._kill()  # worker processes the example left behind share its group
        if check and self._watch_error is not None:
            raise self._watch_error
        if check and hung:
            raise BackendTimeout(f"{self.script.name} did not exit once released:\n{hung}")

    def stacks(self) -> str:
        """Every live process of the run prints each thread's Python stack; returns them.

        Sends STACK_SIGNAL to the process group and waits (at most STACK_WAIT seconds) for
        the `<pid>.stacks` files that `_hold/sitecustomize.py` has each process write.
        """
        assert self._process is not None
        try:
            os.killpg(self._process.pid, STACK_SIGNAL)
        except ProcessLookupError:
            return "(no process of the example was left to show its stack)"
        deadline = time.monotonic() + STACK_WAIT
        while True:
            files = sorted(self.hold_dir.glob("*.stacks"))
            waiting = [f for f in files if not f.stat().st_size and _alive(int(f.stem))]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(WATCH_INTERVAL)  # polled with a deadline: a dump takes milliseconds
        parts = [
            f"--- process {f.stem}:\n{f.read_text(errors='replace')}"
            for f in files
            if f.stat().st_size
        ]
        if not parts:
            return "(no process wrote its stack: was _hold/sitecustomize.py imported?)"
        return "Python stacks when the harness gave up (most recent call first):\n" + "\n".join(
            parts
        )

    def _kill(self) -> None:
        assert self._process is not None
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait(10)

    def _watch(self) -> None:
        try:
            while not self._stop.wait(WATCH_INTERVAL):
                for process in self.processes():
                    address = process["prometheus"]
                    if address and process["pid"] not in self._targets:
                        self._targets[process["pid"]] = address
                        self.prometheus.add_target(self.job, address)
                for held in self.processes("held"):
                    if held["pid"] not in self.released and self._scraped_since(held):
                        (self.hold_dir / f"{held['pid']}.release").touch()
                        self.released.append(held["pid"])
        except BaseException as error:  # reported by stop(); never lost in a thread
            self._watch_error = error

    def _scraped_since(self, held: dict[str, Any]) -> bool:
        """Prometheus scraped the process after it held, and at least twice in all."""
        address = self._targets.get(held["pid"])
        if address is None:  # no /metrics: nothing to wait for
            return True
        selector = f'up{{job="{self.job}", instance="{address}"}}'
        scrapes = self.prometheus.query(f"count_over_time({selector}[10m])")
        last = self.prometheus.query(f"timestamp({selector})")
        return bool(
            scrapes and last and float(scrapes[0]["value"][1]) >= 2
            and float(last[0]["value"][1]) > held["time"]
        )  # fmt: skip

    def query_range(self, promql: str, step: str = "1s") -> list[Any]:
        """`promql` evaluated over the run (a matrix: [{"metric", "values": [[t, v], ...]}])."""
        result: list[Any] = self.prometheus._api(
            "query_range", query=promql, start=str(self.started - 1),
            end=str((self.ended or time.time()) + 2), step=step,
        )["result"]  # fmt: skip
        return result

    def traces(
        self, jaeger: Jaeger, service: str, predicate: Callable[[list[Trace]], bool] | None = None,
        timeout: float = 30.0,
    ) -> list[Trace]:  # fmt: skip
        """This run's traces with spans from `service`, once `predicate` holds for them."""

        def mine() -> list[Trace]:
            return [t for t in jaeger.traces(service, limit=1000) if self._owns(t)]

        return poll(mine, predicate or (lambda found: len(found) > 0), timeout=timeout,
                    what=f"traces of {service!r} from run {self.id}",
                    explain=lambda: f"services: {jaeger.services()}\n{self.output[-2000:]}")  # fmt: skip

    def _owns(self, trace: Trace) -> bool:
        return any(
            tag["key"] == RUN_ATTRIBUTE and tag["value"] == self.id
            for process in trace["processes"].values()
            for tag in process.get("tags") or []
        )


def _alive(pid: int) -> bool:
    """Whether `pid` runs (an exited child its parent has not reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a zombie's state letter is Z
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


#: Labels every scraped series may carry besides its instrument's attributes.
SCRAPE_LABELS = {"__name__", "job", "instance", "otel_scope_name", "otel_scope_version",
                 "otel_scope_schema_url"}  # fmt: skip
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def label_name(attribute: str) -> str:
    """The Prometheus label an OpenTelemetry attribute key becomes (dots to underscores)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in attribute)


def check_catalogue_metrics(prometheus: Prometheus, job: str, catalogue: Any) -> set[str]:
    """Check what `job` sent under `catalogue.scope` against the catalogue, and return the
    names of the instruments it exercised.

    Every series of the scope must be a catalogue instrument under its translated name
    (histograms as _bucket/_sum/_count), and carry only that instrument's attributes
    (translated) plus the labels of the scrape itself.
    """
    expected: dict[str, Any] = {}
    for instrument in catalogue.instruments:
        names = [instrument.prometheus_name]
        if instrument.kind == "histogram":
            names = [instrument.prometheus_name + suffix for suffix in _HISTOGRAM_SUFFIXES]
        expected.update(dict.fromkeys(names, instrument))
    series = prometheus.series(f'{{job="{job}", otel_scope_name="{catalogue.scope}"}}')
    assert series, f"no series of scope {catalogue.scope} from job {job}"
    exercised = set()
    for labels in series:
        name = labels["__name__"]
        instrument = expected.get(name)
        assert instrument is not None, f"{name} is not in the {catalogue.domain} catalogue"
        allowed = SCRAPE_LABELS | {label_name(a) for a in instrument.attributes}
        if name.endswith("_bucket") and instrument.kind == "histogram":
            allowed.add("le")
        assert set(labels) <= allowed, f"{name}: labels {sorted(set(labels) - allowed)} undeclared"
        exercised.add(instrument.name)
    return exercised
