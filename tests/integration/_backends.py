"""Real Jaeger and Prometheus, started as child processes for the integration tests.

Each backend binds 127.0.0.1 on free ports, runs from a config generated into its own
work directory (which also holds its log), and is stopped by PID: terminate, wait, kill.

    with Jaeger() as jaeger, Prometheus() as prometheus:
        ...  # export spans to jaeger.otlp_grpc_endpoint, serve metrics on 127.0.0.1:9464
        jaeger.wait_for_traces("my-service")
        prometheus.add_target("my-job", "127.0.0.1:9464")
        prometheus.wait_for('my_requests_total{job="my-job"}')

Every wait polls with a deadline; nothing sleeps for a fixed time and hopes.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import requests
import yaml

LOOPBACK = "127.0.0.1"
POLL_INTERVAL = 0.1  # seconds between two looks at a backend while waiting
REQUEST_TIMEOUT = 5.0

T = TypeVar("T")
B = TypeVar("B", bound="Backend")
Trace = dict[str, Any]
Span = dict[str, Any]


class BackendError(RuntimeError):
    """A backend could not start, or answered a query with an error."""


class BackendTimeout(AssertionError):
    """What a test waited for did not show up before its deadline."""


def cached_binary(name: str) -> Path:
    """Where the .ci/build-*.sh scripts put a backend: $OBSKIT_CACHE/bin/NAME
    (~/.cache/obskit by default)."""
    cache = os.environ.get("OBSKIT_CACHE") or "~/.cache/obskit"
    return Path(cache).expanduser() / "bin" / name


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports free on 127.0.0.1 right now.

    The sockets stay bound until all ports are chosen, so the ports differ. Another
    process can still take one before the backend binds it; `Backend.start` retries then.
    """
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    """Return one TCP port free on 127.0.0.1 right now."""
    return free_ports(1)[0]


def nonempty(result: Sequence[Any]) -> bool:
    """The default predicate of the `wait_for*` methods: anything came back."""
    return len(result) > 0


def poll(
    fetch: Callable[[], T],
    predicate: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
) -> T:
    """Call `fetch` until `predicate` holds for its result, and return that result.

    Raises BackendTimeout after `timeout` seconds, quoting the last result and `explain()`.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if predicate(result):
            return result
        if time.monotonic() >= deadline:
            try:
                context = explain()
            except Exception as error:  # the backend may be why we waited in vain
                context = f"(no more context: {error!r})"
            raise BackendTimeout(
                f"{what}: not there after {timeout:g}s\nlast answer: {result!r:.3000}\n{context}"
            )
        time.sleep(POLL_INTERVAL)


class Backend(abc.ABC):
    """A backend process on loopback: generated config, free ports, log file, PID.

    Subclasses write their config and return their command line in `_configure`, and say
    in `_is_ready` whether the process serves requests yet.
    """

    name: ClassVar[str]
    binary_env: ClassVar[str]  # environment variable overriding the binary's path
    start_attempts: ClassVar[int] = 3  # a free port can be taken before we bind it

    def __init__(self, binary: Path | None = None, workdir: Path | None = None) -> None:
        found = binary or self.find_binary()
        if found is None:
            raise BackendError(
                f"no {self.name} binary: run `bash .ci/install-backends.sh` "
                f"or set {self.binary_env}"
            )
        self.binary = found
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"obskit-{self.name}-"))
        self.log_path = self.workdir / f"{self.name}.log"
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # loopback only: never through a proxy

    @classmethod
    @abc.abstractmethod
    def default_binary(cls) -> Path | None:
        """Where the binary is when no environment variable says otherwise."""

    @classmethod
    def find_binary(cls) -> Path | None:
        """The executable to run: ${binary_env} if set, else the default; None if absent."""
        override = os.environ.get(cls.binary_env)
        path = Path(override).expanduser() if override else cls.default_binary()
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return path
        return None

    @abc.abstractmethod
    def _configure(self) -> list[str]:
        """Choose ports, write the config files, return the command line."""

    @abc.abstractmethod
    def _is_ready(self) -> bool:
        """Whether the process serves requests; connection errors count as not yet."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self: B, timeout: float = 60.0) -> B:
        """Start the process and return once it serves requests, within `timeout` seconds."""
        if self._process is not None:
            raise BackendError(f"{self.name} already started (pid {self.pid})")
        for attempt in range(1, self.start_attempts + 1):
            began = time.monotonic()
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(self._configure())
            try:
                self._wait_until_ready(timeout)
            except BaseException as error:
                self.stop()
                log = self.log_path.read_bytes()[log_offset:].decode(errors="replace")
                lost_port_race = "address already in use" in log
                if not (isinstance(error, BackendError) and lost_port_race):
                    raise
                if attempt == self.start_attempts:
                    raise
            else:
                self.startup_seconds = time.monotonic() - began
                return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process by its PID: SIGTERM, wait up to `timeout` seconds, SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def describe(self, lines: int = 30) -> str:
        """The process, its log file and the log's last lines, for failure messages."""
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return f"{self.name} pid={self.pid} log={self.log_path}\n" + "\n".join(tail)

    def __enter__(self: B) -> B:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, argv: list[str]) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(argv)}\n".encode())
            log.flush()
            # The child keeps its own copy of the log descriptor.
            self._process = subprocess.Popen(
                [*_die_with_parent(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise BackendError(f"{self.name} exited with code {code}\n{self.describe()}")
            with contextlib.suppress(requests.RequestException):
                if self._is_ready():
                    return
            if time.monotonic() >= deadline:
                raise BackendError(f"{self.name} not ready after {timeout:g}s\n{self.describe()}")
            time.sleep(POLL_INTERVAL)

    def _get(self, url: str, **params: str | int) -> requests.Response:
        return self._http.get(url, params=params, timeout=REQUEST_TIMEOUT)


def _die_with_parent() -> list[str]:
    """A command prefix that makes the backend die with the test process, where possible.

    Fixtures stop backends by PID; this covers a test run that is killed outright
    (setpriv is in util-linux, which every Debian has). The kernel sends the signal when
    the *thread* that started the backend ends, so start backends from the main thread,
    as pytest fixtures do.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class Prometheus(Backend):
    """Prometheus 2.x scraping, every second, the targets a test adds at run time.

    Targets live in a `file_sd_configs` file that `add_target` rewrites; each process
    under test gets its own `job` label. Rule files, if given, are evaluated every second.

        prometheus.add_target("raft-node-1", "127.0.0.1:9464")
        prometheus.wait_for('raft_term{job="raft-node-1"}')

    Debian's 2.42 has no OTLP receiver: metrics reach it by scraping.
    """

    name = "prometheus"
    binary_env = "OBSKIT_PROMETHEUS_BIN"

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        binary: Path | None = None,
        rule_files: Sequence[Path | str] = (),
    ) -> None:
        super().__init__(binary, workdir)
        self.rule_files = [str(Path(path).resolve()) for path in rule_files]
        self.config_path = self.workdir / "prometheus.yml"
        self.targets_path = self.workdir / "targets.json"
        self.port = 0
        self._targets: dict[str, list[str]] = {}

    @classmethod
    def default_binary(cls) -> Path | None:
        found = shutil.which("prometheus")
        return Path(found) if found else None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def add_target(self, job: str, address: str) -> None:
        """Scrape `address` ("127.0.0.1:PORT", path /metrics) with the label job=`job`."""
        addresses = self._targets.setdefault(job, [])
        if address not in addresses:
            addresses.append(address)
        self._write_targets()

    def remove_target(self, job: str, address: str) -> None:
        """Stop scraping `address` for `job`."""
        addresses = self._targets.get(job, [])
        if address in addresses:
            addresses.remove(address)
        self._write_targets()

    def query(self, promql: str) -> list[Any]:
        """The result of an instant query: for a vector, [{"metric": {...}, "value": [t, "v"]}]."""
        result: list[Any] = self._api("query", query=promql)["result"]
        return result

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[Any]], bool] = nonempty,
        timeout: float = 30.0,
    ) -> list[Any]:
        """Run `promql` until `predicate` holds for its result, and return that result."""
        return poll(
            lambda: self.query(promql),
            predicate,
            timeout=timeout,
            what=f"Prometheus query {promql!r}",
            explain=self._explain_targets,
        )

    def exemplars(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        """Stored exemplars of the series `promql` selects: [{"seriesLabels", "exemplars":
        [{"labels": {"trace_id", ...}, "value", "timestamp"}]}] (needs exemplar storage)."""
        found: list[dict[str, Any]] = self._api(
            "query_exemplars", query=promql, start=str(start), end=str(end)
        )
        return found

    def series(self, match: str) -> list[dict[str, str]]:
        """The label sets of the series that selector `match` finds."""
        found: list[dict[str, str]] = self._api("series", **{"match[]": match})
        return found

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, with `labels`, `health`, `lastError`, `scrapeUrl`."""
        active: list[dict[str, Any]] = self._api("targets")["activeTargets"]
        return active

    def _api(self, endpoint: str, **params: str) -> Any:
        response = self._get(f"{self.url}/api/v1/{endpoint}", **params)
        try:
            body = response.json()
        except ValueError:
            response.raise_for_status()
            raise
        if body.get("status") != "success":
            raise BackendError(
                f"Prometheus /api/v1/{endpoint} {params}: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def _explain_targets(self) -> str:
        lines = [
            f"  {t['labels'].get('job')} {t['scrapeUrl']} health={t['health']} {t['lastError']}"
            for t in self.targets()
        ]
        return "scrape targets:\n" + "\n".join(lines or ["  (none)"]) + f"\n{self.describe(10)}"

    def _write_targets(self) -> None:
        groups = [
            {"targets": addresses, "labels": {"job": job}}
            for job, addresses in self._targets.items()
            if addresses
        ]
        # Replace the file in one step, so Prometheus never reads half of it.
        partial = self.targets_path.with_suffix(".tmp")
        partial.write_text(json.dumps(groups, indent=2))
        partial.replace(self.targets_path)

    def _configure(self) -> list[str]:
        self.port = free_port()
        self._write_targets()
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": self.rule_files,
            "scrape_configs": [
                {
                    "job_name": "obskit-tests",  # each target group overrides `job`
                    "file_sd_configs": [
                        {"files": [str(self.targets_path)], "refresh_interval": "1s"}
                    ],
                }
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Keep the exemplars of OpenMetrics scrapes (read by /api/v1/query_exemplars).
            "--enable-feature=exemplar-storage",
        ]

    def _is_ready(self) -> bool:
        return self._get(f"{self.url}/-/ready").status_code == 200


class Jaeger(Backend):
    """Jaeger v2 all-in-one: OTLP over gRPC and HTTP in, in-memory storage, query API out.

    Traces come back in Jaeger's JSON model (the one its UI reads):

        {"traceID": "hex", "spans": [...], "processes": {"p1": {"serviceName": ..., "tags": [...]}}}

    and each span is

        {"traceID", "spanID", "operationName", "startTime" (us), "duration" (us),
         "references": [{"refType": "CHILD_OF", "traceID", "spanID"}],  # parent; FOLLOWS_FROM for links
         "tags": [{"key", "type", "value"}], "logs": [...], "processID": "p1"}

    so a span's service is `trace["processes"][span["processID"]]["serviceName"]`; the
    helpers `find_span`, `span_parent_id`, `span_tags` and `span_service` read them.
    Jaeger drops leading zeros of IDs: compare `int(span["spanID"], 16)`, not strings.
    """

    name = "jaeger"
    binary_env = "OBSKIT_JAEGER_BIN"
    _port_names = ("otlp_grpc", "otlp_http", "query_http", "query_grpc", "health")

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        binary: Path | None = None,
        max_traces: int = 100_000,
    ) -> None:
        super().__init__(binary, workdir)
        self.max_traces = max_traces
        self.config_path = self.workdir / "jaeger.yaml"
        self.ports: dict[str, int] = {}

    @classmethod
    def default_binary(cls) -> Path:
        """Where .ci/build-jaeger.sh puts it: $OBSKIT_CACHE/bin/jaeger (~/.cache/obskit)."""
        return cached_binary("jaeger")

    @property
    def otlp_grpc_endpoint(self) -> str:
        """The OTLP/gRPC address 127.0.0.1:PORT, for OTLPSpanExporter(endpoint, insecure=True)."""
        return f"{LOOPBACK}:{self.ports['otlp_grpc']}"

    @property
    def otlp_http_endpoint(self) -> str:
        """The OTLP/HTTP base URL http://127.0.0.1:PORT (traces go to its /v1/traces)."""
        return f"http://{LOOPBACK}:{self.ports['otlp_http']}"

    @property
    def query_url(self) -> str:
        """The base URL of the query API and UI, http://127.0.0.1:PORT."""
        return f"http://{LOOPBACK}:{self.ports['query_http']}"

    def services(self) -> list[str]:
        """The names of the services Jaeger has spans from."""
        return sorted(self._api("/api/services") or [])

    def traces(self, service: str, limit: int = 20, lookback: str = "1h") -> list[Trace]:
        """The latest `limit` traces that have spans from `service`."""
        found: list[Trace] = (
            self._api("/api/traces", service=service, limit=limit, lookback=lookback) or []
        )
        return found

    def trace(self, trace_id: int | str) -> Trace | None:
        """One trace by ID (an OpenTelemetry int or a hex string), None if Jaeger has none."""
        hex_id = format(trace_id, "032x") if isinstance(trace_id, int) else trace_id
        response = self._get(f"{self.query_url}/api/traces/{hex_id}")
        if response.status_code == 404:
            return None
        found = self._data(response)
        return found[0] if found else None

    def wait_for_traces(
        self,
        service: str,
        predicate: Callable[[list[Trace]], bool] = nonempty,
        timeout: float = 30.0,
        limit: int = 20,
    ) -> list[Trace]:
        """Read `service`'s traces until `predicate` holds for them, and return them."""
        return poll(
            lambda: self.traces(service, limit=limit),
            predicate,
            timeout=timeout,
            what=f"Jaeger traces of service {service!r}",
            explain=lambda: f"services: {self.services()}\n{self.describe(10)}",
        )

    def _api(self, path: str, **params: str | int) -> Any:
        return self._data(self._get(f"{self.query_url}{path}", **params))

    @staticmethod
    def _data(response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = {"errors": response.text[:500]}
        if response.status_code != 200 or body.get("errors"):
            raise BackendError(
                f"Jaeger {response.url}: HTTP {response.status_code} {body.get('errors')}"
            )
        return body.get("data")

    def _configure(self) -> list[str]:
        self.ports = dict(zip(self._port_names, free_ports(len(self._port_names)), strict=True))
        address = {name: f"{LOOPBACK}:{port}" for name, port in self.ports.items()}
        config = {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {
                    # The collector's own metrics would bind :8888 by default.
                    "metrics": {"level": "none"},
                    "logs": {"level": "info"},
                },
            },
            "extensions": {
                "jaeger_storage": {
                    "backends": {"memstore": {"memory": {"max_traces": self.max_traces}}}
                },
                "jaeger_query": {
                    "storage": {"traces": "memstore"},
                    # On by default in v2: it would export Jaeger's own spans to :4318.
                    "enable_tracing": False,
                    "http": {"endpoint": address["query_http"]},
                    "grpc": {"endpoint": address["query_grpc"]},
                },
                "healthcheckv2": {
                    "use_v2": True,
                    "http": {
                        "endpoint": address["health"],
                        "status": {"enabled": True, "path": "/status"},
                    },
                },
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": address["otlp_grpc"]},
                        "http": {"endpoint": address["otlp_http"]},
                    }
                }
            },
            "processors": {"batch": {"timeout": "100ms"}},  # default 200ms; tests wait on it
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return [str(self.binary), f"--config={self.config_path}"]

    def _is_ready(self) -> bool:
        health = self._get(f"http://{LOOPBACK}:{self.ports['health']}/status")
        return health.status_code == 200 and self._get(f"{self.query_url}/api/services").ok


def find_span(trace: Trace, operation_name: str) -> Span:
    """The one span of `trace` named `operation_name`; AssertionError if not exactly one."""
    spans: list[Span] = [s for s in trace["spans"] if s["operationName"] == operation_name]
    names = sorted(s["operationName"] for s in trace["spans"])
    assert len(spans) == 1, f"{len(spans)} spans named {operation_name!r} in trace: {names}"
    return spans[0]


def span_parent_id(span: Span) -> str | None:
    """The spanID of the span's parent (its CHILD_OF reference), None for a root span."""
    for reference in span.get("references") or []:
        if reference["refType"] == "CHILD_OF":
            parent: str = reference["spanID"]
            return parent
    return None


def span_tags(span: Span) -> dict[str, Any]:
    """The span's attributes (Jaeger "tags") as a dict."""
    return {tag["key"]: tag["value"] for tag in span.get("tags") or []}


def span_service(trace: Trace, span: Span) -> str:
    """The service.name of the process that emitted `span`."""
    service: str = trace["processes"][span["processID"]]["serviceName"]
    return service


class Collector(Backend):
    """obskit's fleet collector (.ci/build-collector.sh builds it) in one role of the tier.

    Subclasses give the pipeline (`_pipeline`); every collector receives OTLP over gRPC
    and HTTP and serves its own metrics (otelcol_*) in the Prometheus format at
    `metrics_address`, which tests read directly (`metrics`) or through Prometheus.
    """

    name = "otelcol"
    binary_env = "OBSKIT_COLLECTOR_BIN"
    _port_names = ("otlp_grpc", "otlp_http", "metrics")

    def __init__(
        self, label: str, workdir: Path | None = None, *, binary: Path | None = None,
        extra_configs: Sequence[Path] = (),
    ) -> None:  # fmt: skip
        super().__init__(binary, workdir)
        self.label = label
        self.log_path = self.workdir / f"{label}.log"
        self.config_path = self.workdir / f"{label}.yaml"
        self.extra_configs = [Path(path).resolve() for path in extra_configs]
        self.ports: dict[str, int] = {}

    @classmethod
    def default_binary(cls) -> Path:
        """Where .ci/build-collector.sh puts it: $OBSKIT_CACHE/bin/otelcol-obskit."""
        return cached_binary("otelcol-obskit")

    @property
    def otlp_grpc_endpoint(self) -> str:
        """127.0.0.1:PORT of the OTLP/gRPC receiver (what a load balancer routes to)."""
        return f"{LOOPBACK}:{self.ports['otlp_grpc']}"

    @property
    def otlp_http_endpoint(self) -> str:
        """http://127.0.0.1:PORT of the OTLP/HTTP receiver (what obskit exports to)."""
        return f"http://{LOOPBACK}:{self.ports['otlp_http']}"

    @property
    def metrics_address(self) -> str:
        """127.0.0.1:PORT serving the collector's own metrics at /metrics."""
        return f"{LOOPBACK}:{self.ports['metrics']}"

    def metrics(self) -> dict[str, float]:
        """The collector's own metrics now: {'name{label="v",...}': value} (no HELP/TYPE)."""
        text = self._get(f"http://{self.metrics_address}/metrics").text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
        return samples

    def total(self, metric: str, **labels: str) -> float:
        """The sum of `metric`'s samples whose labels include `labels` (0 when none)."""
        wanted = [f'{key}="{value}"' for key, value in labels.items()]
        return sum(
            value for series, value in self.metrics().items()
            if series.partition("{")[0] == metric and all(w in series for w in wanted)
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL by PID, no flush: what a crashed or OOM-killed collector does."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    @abc.abstractmethod
    def _pipeline(self) -> dict[str, Any]:
        """`processors`, `exporters` and the traces pipeline's `processors`/`exporters`."""

    def _configure(self) -> list[str]:
        self.ports = dict(zip(self._port_names, free_ports(len(self._port_names)), strict=True))
        pipeline = self._pipeline()
        config = {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": self.otlp_grpc_endpoint},
                "http": {"endpoint": f"{LOOPBACK}:{self.ports['otlp_http']}"},
            }}},
            "processors": pipeline["processors"],
            "exporters": pipeline["exporters"],
            "service": {
                "pipelines": {"traces": {
                    "receivers": ["otlp"],
                    "processors": pipeline["pipeline_processors"],
                    "exporters": list(pipeline["exporters"]),
                }},
                "telemetry": {
                    "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {
                        "prometheus": {"host": LOOPBACK, "port": self.ports["metrics"]},
                    }}}]},
                    "logs": {"level": "info"},
                },
            },
        }  # fmt: skip
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        configs = [self.config_path, *self.extra_configs]
        return [str(self.binary), *(f"--config={path}" for path in configs)]

    def _is_ready(self) -> bool:
        metrics = self._get(f"http://{self.metrics_address}/metrics")
        # A GET on the OTLP/HTTP receiver answers 405 once it listens.
        receiver = self._get(f"{self.otlp_http_endpoint}/v1/traces")
        return metrics.status_code == 200 and receiver.status_code in (200, 405)


#: The span attribute each gateway adds to what it exports: which gateway kept the span.
GATEWAY_ATTRIBUTE = "obskit.collector.gateway"


class Gateway(Collector):
    """A tail-sampling gateway: the policy file (`obskit tail-sampling`) decides per trace,
    then every span it keeps is marked with GATEWAY_ATTRIBUTE=<label> and sent to Jaeger."""

    def __init__(
        self, label: str, policy: Path, jaeger: Jaeger, workdir: Path | None = None, *,
        binary: Path | None = None,
    ) -> None:  # fmt: skip
        super().__init__(label, workdir, binary=binary, extra_configs=[policy])
        self.jaeger = jaeger

    def _pipeline(self) -> dict[str, Any]:
        mark = {"actions": [{"key": GATEWAY_ATTRIBUTE, "value": self.label, "action": "upsert"}]}
        return {
            "processors": {"attributes/gateway": mark, "batch": {"timeout": "100ms"}},
            "pipeline_processors": ["tail_sampling", "attributes/gateway", "batch"],
            "exporters": {"otlp/jaeger": {
                "endpoint": self.jaeger.otlp_grpc_endpoint, "tls": {"insecure": True},
            }},
        }  # fmt: skip


class LoadBalancer(Collector):
    """A load-balancing collector: routes each span by its trace id to one of `gateways`
    (static resolver), so every span of a trace reaches the same gateway.

    `copy_to`, if given, also receives everything unsampled (a test's ground truth).
    Failed sends are retried for `retry_seconds`, then dropped and counted in
    otelcol_exporter_send_failed_spans.
    """

    def __init__(
        self, label: str, gateways: Sequence[Gateway], workdir: Path | None = None, *,
        binary: Path | None = None, copy_to: Jaeger | None = None, retry_seconds: float = 3.0,
    ) -> None:  # fmt: skip
        super().__init__(label, workdir, binary=binary)
        self.gateways = list(gateways)
        self.copy_to = copy_to
        self.retry_seconds = retry_seconds

    def _pipeline(self) -> dict[str, Any]:
        # The otlp sub-exporter (one per gateway) sends synchronously and retries for
        # `retry_seconds`; what still fails comes back to the loadbalancing exporter, which
        # counts it in otelcol_exporter_send_failed_spans (the sub-exporters report no
        # metrics of their own). The loadbalancing exporter's own queue keeps the receiver
        # from waiting on a dead gateway; its retry would only pick the same gateway again
        # (a static list never changes), so it is off.
        exporters: dict[str, Any] = {"loadbalancing": {
            "routing_key": "traceID",
            "protocol": {"otlp": {
                "tls": {"insecure": True},
                "timeout": "1s",
                "retry_on_failure": {"enabled": True, "initial_interval": "100ms",
                                     "max_interval": "500ms",
                                     "max_elapsed_time": f"{self.retry_seconds:g}s"},
                "sending_queue": {"enabled": False},
            }},
            "resolver": {"static": {"hostnames": [g.otlp_grpc_endpoint for g in self.gateways]}},
            "sending_queue": {"enabled": True, "queue_size": 1000, "num_consumers": 20},
            "retry_on_failure": {"enabled": False},
        }}  # fmt: skip
        if self.copy_to is not None:
            exporters["otlp/copy"] = {
                "endpoint": self.copy_to.otlp_grpc_endpoint, "tls": {"insecure": True},
            }  # fmt: skip
        return {"processors": {}, "pipeline_processors": [], "exporters": exporters}
