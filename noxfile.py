"""nox sessions for obskit: `nox -l` lists them; CI runs `./dev` (see .ci/run)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "types", "tests", "sdk_spans"]

PYTHONS = ["3.11"]  # the main version: every session runs on it
# Every version pyproject claims (its classifiers); .ci/python-versions.sh runs the unit
# suite on the ones besides 3.11 in CI.
SUPPORTED_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=SUPPORTED_PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit tests (integration and reliability suites excluded)."""
    _install(session)
    session.run(
        "pytest",
        "-m",
        "not integration and not reliability",
        "--ignore=tests/integration",
        "--ignore=tests/stack",
        "--ignore=tests/reliability",
        *session.posargs,
    )


#: The suites that record spans; `sdk_spans` runs them with the SDK's own spans.
CORE_SUITES = [
    "tests/core",
    "tests/testing",
    "tests/btree",
    "tests/raft",
    "tests/query",
    "tests/pipeline",
    "tests/runtime",
]


@nox.session(python=PYTHONS)
def sdk_spans(session: nox.Session) -> None:
    """The core suites with OBSKIT_SLIM_SPANS=false: SDK spans instead of obskit's recorder."""
    _install(session)
    session.run("pytest", *CORE_SUITES, *session.posargs, env={"OBSKIT_SLIM_SPANS": "false"})


@nox.session(python=PYTHONS)
def integration(session: nox.Session) -> None:
    """Integration tests against real Jaeger and Prometheus processes."""
    _install(session)
    session.run("bash", ".ci/install-backends.sh", external=True)
    session.run("pytest", "tests/integration", "tests/stack", *session.posargs)


@nox.session(python=PYTHONS)
def reliability(session: nox.Session) -> None:
    """The telemetry-never-hurts suite (tests/reliability)."""
    _install(session)
    session.run("pytest", "tests/reliability", *session.posargs)


@nox.session(python=PYTHONS)
def examples(session: nox.Session) -> None:
    """Run every example end to end and check its output."""
    _install(session)
    session.run("pytest", "tests/examples", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    paths = ["src", "tests", "examples", "benchmarks", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHONS)
def types(session: nox.Session) -> None:
    """mypy --strict on src/ and the typing usage checks."""
    _install(session)
    session.run("mypy")
    session.run("mypy", "--strict", "tests/typing")


@nox.session(python=PYTHONS)
def catalogue(session: nox.Session) -> None:
    """Regenerate docs/catalogue.md from the catalogues in code."""
    _install(session)
    with open("docs/catalogue.md", "w") as out:
        session.run(
            "python",
            "-c",
            "import sys, obskit._tools.catalogue as c; sys.stdout.write(c.render_markdown())",
            stdout=out,
        )
    session.run("python", "-c", "import obskit._tools.catalogue as c; c.refresh_pages('docs')")
    session.run("python", "-c", "import obskit._tools.alert_docs as a; a.refresh_pages('docs')")


@nox.session(python=PYTHONS)
def docs(session: nox.Session) -> None:
    """Build the documentation strictly (the catalogue regenerated first)."""
    catalogue(session)
    session.run("mkdocs", "build", "--strict")


@nox.session(python=PYTHONS)
def bench(session: nox.Session) -> None:
    """Benchmarks: writes the results into docs/performance.md and docs/images/bench.svg."""
    _install(session)
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHONS)
def dashboards(session: nox.Session) -> None:
    """Regenerate the Grafana dashboards and alert rules under examples/stack/."""
    _install(session)
    session.run(
        "python", "-m", "obskit._tools.dashboards", *session.posargs
    )  # `-- --check` verifies
