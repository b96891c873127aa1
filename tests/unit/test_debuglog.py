"""The debug log of every run: AWS calls with their timings, secrets redacted, named by run id."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from adinsights_ops.aws import Aws
from runbooks import debuglog
from runbooks.debuglog import RunLog, redact
from tests.cli.runner import run


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    return tmp_path


@mock_aws
def test_each_aws_call_is_logged_with_its_outcome_and_duration_never_its_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws = Aws(region="eu-west-1")
    caplog.set_level(logging.DEBUG, logger="adinsights_ops.aws")
    aws.client("secretsmanager").create_secret(Name="db", SecretString="hunter2-value")
    with pytest.raises(ClientError):
        aws.client("ecs").describe_task_definition(taskDefinition="missing:1")
    lines = [r.getMessage() for r in caplog.records if r.name == "adinsights_ops.aws"]
    assert any(
        line.startswith("aws secretsmanager.CreateSecret -> 200 in ") and "(retries 0)" in line
        for line in lines
    ), lines
    assert any(line.startswith("aws ecs.DescribeTaskDefinition -> 400 ") for line in lines), lines
    assert not any("hunter2" in line for line in lines)


@mock_aws
def test_nothing_is_formatted_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="adinsights_ops.aws")
    Aws(region="eu-west-1").client("sts").get_caller_identity()
    assert [r for r in caplog.records if r.name == "adinsights_ops.aws"] == []


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("POST https://hooks.slack.com/services/T000/B000/XXXXsecret", "XXXXsecret"),
        ("connect postgres://ops:s3cr3t-pw@db.internal:5432/app", "s3cr3t-pw"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("GET /v1/jobs?token=abc123&page=2", "abc123"),
        ("api_key=K-9999 password=pa55", "pa55"),
    ],
)
def test_secrets_are_redacted(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "<redacted>" in redact(line)


def test_the_log_is_named_by_the_run_that_started_and_secrets_never_reach_it(home: Path) -> None:
    stream = io.StringIO()
    log = RunLog(home / "logs", verbose=False, stream=stream)
    log.open()
    library = logging.getLogger("adinsights_ops.journal")
    library.info(
        "run %s: deploy started", "20261201T180000Z-ab12", extra={"run_id": "20261201T180000Z-ab12"}
    )
    logging.getLogger("adinsights_ops.notify").debug(
        "posting to https://hooks.slack.com/services/T/B/sekret"
    )
    logging.getLogger("adinsights_ops.aws").warning("something to see")
    path = log.close()
    assert path == home / "logs" / "20261201T180000Z-ab12.log"
    text = path.read_text()
    assert "deploy started" in text and "posting to" in text
    assert "sekret" not in text
    # Without --verbose, stderr shows what it showed before: warnings, not the debug lines.
    assert stream.getvalue() == "something to see\n"
    # The handlers are gone: later records reach neither the file nor the stream.
    logging.getLogger("adinsights_ops.aws").warning("after")
    assert "after" not in path.read_text() and "after" not in stream.getvalue()


def test_verbose_shows_the_debug_lines_live(home: Path) -> None:
    stream = io.StringIO()
    log = RunLog(home / "logs", verbose=True, stream=stream)
    log.open()
    logging.getLogger("adinsights_ops.aws").debug("aws ecs.ListServices -> 200 in 3 ms")
    log.close()
    assert "aws ecs.ListServices -> 200 in 3 ms" in stream.getvalue()


def test_old_logs_are_pruned(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debuglog, "KEEP", 3)
    for _ in range(5):
        with debuglog.run_log(announce=False):
            pass
    assert len(list((home / "logs").glob("*.log"))) == 3


def test_a_task_names_its_log_last_and_verbose_shows_it(home: Path) -> None:
    done = run("env.list", "--verbose")
    assert done.code == 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("debug log: ")
    path = Path(last.removeprefix("debug log: "))
    assert path.parent == home / "logs" and path.is_file()
    assert "task list" in path.read_text()
    assert "task list" in done.stderr  # shown live


def test_a_refused_command_line_stays_one_line(home: Path) -> None:
    done = run("ecs.status", "--env", "nowhere")
    assert done.code == 2
    assert len(done.error_lines()) == 1, done.stderr
    assert "debug log" not in done.stderr
