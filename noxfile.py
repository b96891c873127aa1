"""nox sessions: tests, lint, typecheck (each in its own virtualenv)."""

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", "-q", "-n", "4", "--durations=20", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev,dbt]")  # tests/unit/test_dbt.py reads duckdb's types
    session.run("mypy", "--strict")  # setup.cfg's [mypy] files: the library, tasks, tests, bench
