"""runbooks.render: the live progress fits the terminal, NO_COLOR, plain lines off a terminal."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime

import pytest
from rich.console import Console

from adinsights_ops.checks_report import CheckReport, failed, passed, report
from adinsights_ops.ecs import Phase, Progress, ServiceEvent
from runbooks import render

ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/"
SERVICES = ("dbox-backend", "dbox-worker", "dbox-worker-reports", "celery-beat", "dbox-frontend")
_CONTROL = re.compile(r"\x1b\[(\??)([0-9;]*)([A-Za-z])")


def screen(output: str, width: int) -> list[str]:
    """What a terminal of `width` columns shows after `output` (the scrollback included)."""
    rows: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(output):
        found = _CONTROL.match(output, i)
        if found:
            private, number, code = found.groups()
            count = int(number or "1") if number.isdigit() else 1
            if not private and code == "A":
                row = max(0, row - count)
            elif not private and code == "K":
                line = rows[row]
                del line[(0 if number == "2" else col) :]
            i = found.end()
            continue
        char = output[i]
        i += 1
        if char == "\n":
            row, col = row + 1, 0
        elif char == "\r":
            col = 0
        else:
            if col == width:  # the terminal wraps: the rest lands on the next row
                row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        while len(rows) <= row:
            rows.append([])
    return ["".join(r).rstrip() for r in rows if "".join(r).strip()]


def rollout(progress: render.Progress, after_poll: Callable[[], None] = lambda: None) -> None:
    """A deploy's steps: a rollout of five long-named services, then a one-off task, then warm."""
    progress.step("rollout")
    progress(Phase("waiting", "5 services to reach a steady state"))
    for poll in range(4):
        for name in SERVICES:
            running = min(poll, 2)
            progress(
                Progress(
                    name,
                    f"{ARN}{name}-production-family:{40 + poll}",
                    running,
                    2,
                    "COMPLETED" if poll == 3 else "IN_PROGRESS",
                    float(poll * 5),
                    poll == 3,
                )
            )
        if poll == 1:
            progress(
                ServiceEvent(
                    "dbox-worker",
                    "e1",
                    datetime(2026, 1, 1, 12, 0, 5),
                    "(service dbox-worker) has started 1 tasks",
                )
            )
            render.say("note: a line said while the rollout waits")
        after_poll()
    progress.step("one-off")
    for poll, state in enumerate(("PENDING", "RUNNING", "STOPPED")):
        progress(
            Progress(
                "migrate",
                f"{ARN}dbox-backend-production-family:43",
                int(state == "RUNNING"),
                1,
                state,
                float(poll),
                state == "STOPPED",
            )
        )
        after_poll()
    progress.step("warm")
    render.say("warming the aggregate snapshot")
    progress.close()


STATUS = re.compile(r"^(   \[ *[0-9.]+s\] )?[a-z-]+ \d+/\d+ [A-Z_]+ \S+ (\.\.\.  \[\d+s\]|ok)$")
OTHER = ("== ", "-- ", "   12:00:05 ", "warming", "note: ")


def whole_rows(rows: list[str], width: int) -> None:
    """Every row is one whole line: a status line (or one cut with an ellipsis), or a said line."""
    for row in rows:
        assert len(row) <= width
        if row.startswith(OTHER):
            assert not STATUS.search(row[3:]), row  # nothing glued onto a header
            continue
        assert STATUS.match(row) or (row.endswith("…") and len(row) == width), row
        assert sum(row.count(name + " ") for name in (*SERVICES, "migrate")) == 1, row


@pytest.mark.parametrize("width", [100, 160])
def test_live_progress_fits_the_terminal_width(width: int) -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=width, force_terminal=True)
    shown: list[list[str]] = []
    with render.using(err=console):
        rollout(
            render.Progress(console=console),
            after_poll=lambda: shown.append(screen(stream.getvalue(), width)),
        )
    rows = screen(stream.getvalue(), width)
    for seen in [*shown, rows]:
        whole_rows(seen, width)
    # while the rollout waits, the area is the last rows: one line per service, each whole
    waiting = shown[2]
    assert [row.split(" ")[0] for row in waiting[-len(SERVICES) :]] == list(SERVICES)
    assert "note: a line said while the rollout waits" in waiting[: -len(SERVICES)]
    headers = [row for row in rows if row.startswith("== ")]
    assert headers == ["== rollout", "== one-off", "== warm"]  # never glued to a status line
    after_warm = rows[rows.index("== warm") + 1 :]
    assert after_warm == ["warming the aggregate snapshot"]  # no stale one-off or rollout line
    finished = [row for row in rows if row.endswith(" ok")]
    assert len(finished) == len(SERVICES) + 1  # each service's and the task's end, once


def test_the_plain_progress_did_not_change() -> None:
    stream = io.StringIO()
    with render.using(err=Console(file=stream)):
        rollout(render.Progress(stream=stream, live=False))
    lines = stream.getvalue().splitlines()
    assert lines[:3] == [
        "== rollout",
        "-- waiting: 5 services to reach a steady state",
        "   [  0.0s] dbox-backend 0/2 IN_PROGRESS dbox-backend-production-family:40 ...",
    ]
    assert "   12:00:05 (service dbox-worker) has started 1 tasks" in lines
    assert "   [ 15.0s] celery-beat 2/2 COMPLETED celery-beat-production-family:43 ok" in lines
    assert lines[-5:] == [
        "   [  0.0s] migrate 0/1 PENDING dbox-backend-production-family:43 ...",
        "   [  1.0s] migrate 1/1 RUNNING dbox-backend-production-family:43 ...",
        "   [  2.0s] migrate 0/1 STOPPED dbox-backend-production-family:43 ok",
        "== warm",
        "warming the aggregate snapshot",
    ]
    assert "\x1b" not in stream.getvalue()


def _report(fail: bool = True) -> CheckReport:
    items = [passed("alarms", "3 alarms in OK")]
    if fail:
        items.append(failed("tls", "certificate expires in 3 days", "renew it"))
    return report("post-deploy checks", "sandbox", items)


def test_checks_off_a_terminal_are_todays_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from invoke.exceptions import Exit

    with pytest.raises(Exit) as raised:
        render.checks(_report(), as_json=False)
    assert capsys.readouterr().out.splitlines() == [
        "post-deploy checks: sandbox",
        "  pass  alarms  3 alarms in OK",
        "  FAIL  tls     certificate expires in 3 days (renew it)",
        "1 pass, 1 fail, 0 not available",
    ]
    assert raised.value.code == 1
    assert raised.value.message == "error: 1 check(s) failed: tls"


@pytest.mark.parametrize("no_color", [True, False])
def test_no_color_gives_no_escape_codes(monkeypatch: pytest.MonkeyPatch, no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    stream = io.StringIO()
    console = render.make_console(stream, width=100, force_terminal=True)
    with render.using(out=console, err=console):
        render.checks(_report(fail=False), as_json=False)
        render.table("services", ["service", "revision"], [["backend", "backend:7"]])
    text = stream.getvalue()
    assert "alarms  3 alarms in OK" in text and "backend:7" in text
    assert ("\x1b[" in text) is not no_color


def test_table_off_a_terminal_is_aligned_lines(capsys: pytest.CaptureFixture[str]) -> None:
    render.table(
        "services now:", ["service", "revision"], [["backend", "b:7"], ["celery-beat", "c:2"]]
    )
    assert capsys.readouterr().out.splitlines() == [
        "services now:",
        "  backend      b:7",
        "  celery-beat  c:2",
    ]


def test_json_and_error_json(capsys: pytest.CaptureFixture[str]) -> None:
    render.emit_json({"b": {1, 2} - {2}, "a": datetime(2026, 1, 2, 3, 4, 5)})
    assert capsys.readouterr().out == '{\n  "a": "2026-01-02T03:04:05",\n  "b": [\n    1\n  ]\n}\n'
    assert render.error_json("error: bad\n  detail one\n", 2) == (
        '{"details": ["detail one"], "error": "bad", "exit_code": 2}'
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("typed", "confirmed"),
    [
        ("production\n", True),
        ("  production \n", True),
        ("prod\n", False),
        ("\n", False),
        ("", False),
    ],
)
def test_confirm_wants_the_environment_name_typed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
    confirmed: bool,
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(typed))
    assert render.confirm("production", False, "deploy v1.4.0") is confirmed
    shown = capsys.readouterr()
    assert "deploy v1.4.0 on production. Type the environment name to go on: " in shown.err
    assert shown.out == ""  # the question is on stderr: stdout stays the result's


def test_ctrl_c_at_the_prompt_is_not_confirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    import click.termui

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin", _Terminal("production\n"))
    monkeypatch.setattr(click.termui, "visible_prompt_func", interrupted)
    assert render.confirm("production", False, "deploy v1.4.0") is False
    assert render.yes_no("go on?") is False


def test_yes_needs_no_terminal_and_no_terminal_without_yes_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adinsights_ops.errors import UsageError

    monkeypatch.setattr("sys.stdin", io.StringIO("production\n"))
    assert render.confirm("production", True, "deploy v1.4.0") is True
    with pytest.raises(UsageError, match="needs approval: pass --yes \\(not interactive\\)"):
        render.confirm("production", False, "deploy v1.4.0")


def test_the_live_area_ends_and_the_cursor_comes_back_when_the_task_fails() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=100, force_terminal=True)
    with pytest.raises(RuntimeError), render.Progress(console=console) as progress:
        progress(Progress("migrate", f"{ARN}backend:3", 1, 1, "RUNNING", 1.0, False))
        raise RuntimeError("the task failed")
    assert stream.getvalue().endswith("\x1b[?25h")  # rich hid the cursor while it drew
    with render.using(err=console):
        render.say("error: the task failed")
    assert screen(stream.getvalue(), 100)[-2:] == [
        "migrate 1/1 RUNNING backend:3 ...  [1s]",
        "error: the task failed",
    ]
