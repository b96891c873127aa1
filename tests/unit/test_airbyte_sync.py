"""airbyte.sync and sync_all against the simulated Airbyte over HTTP, on a fake clock.

Every exchange is also checked against the upstream contract (see test_airbyte_contract).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from adinsights_ops import airbyte, config
from adinsights_ops.airbyte import SyncAlreadyRunning, SyncEvent, SyncFailed, SyncTimedOut
from adinsights_ops.errors import WaitTimedOut
from tests.simulated import ENVIRONMENTS
from tests.unit.test_airbyte_contract import GOOGLE, META, Harness, airbyte_harness


@pytest.fixture
def h() -> Iterator[Harness]:
    with airbyte_harness(pending_seconds=1, job_seconds=20) as harness:
        yield harness


def calls(h: Harness, method: str, route: str) -> list[int]:
    """Statuses of the simulator's answers to `method route`."""
    return [c.status for c in h.sim.calls if c.method == method and c.route == route]


def test_sync_starts_a_job_and_waits_until_it_succeeds(h: Harness) -> None:
    events: list[SyncEvent] = []
    job = airbyte.sync(
        h.client, connection_id=META, timeout=600, clock=h.clock, on_event=events.append
    )
    [only] = h.sim.jobs(META)
    assert job.job_id == only["jobId"]
    assert (job.status, job.adopted, job.connection_id) == ("succeeded", False, META)
    assert job.rows_synced == only["rowsSynced"] > 0
    assert job.duration_seconds == 21
    assert [(e.kind, e.status) for e in events] == [
        ("started", "pending"),
        ("status", "running"),
        ("status", "succeeded"),
    ]
    assert calls(h, "POST", "/jobs") == [200]
    assert calls(h, "DELETE", "/jobs/{jobId}") == []
    assert 21 <= sum(h.clock.slept) < 60  # simulated seconds only


def test_a_running_job_is_adopted_instead_of_starting_another(h: Harness) -> None:
    running = h.sim.start_job(META)  # e.g. Airbyte's own hourly schedule
    h.clock.advance(5)
    events: list[SyncEvent] = []
    job = airbyte.sync(
        h.client, connection_id=META, timeout=600, clock=h.clock, on_event=events.append
    )
    assert (job.job_id, job.adopted, job.status) == (running, True, "succeeded")
    assert events[0] == SyncEvent("adopted", META, running, "running")
    assert calls(h, "POST", "/jobs") == []
    assert len(h.sim.jobs(META)) == 1


def test_a_pending_job_counts_as_running(h: Harness) -> None:
    pending = h.sim.start_job(GOOGLE)
    assert h.sim.job(pending)["status"] == "pending"
    job = airbyte.sync(h.client, connection_id=GOOGLE, timeout=600, clock=h.clock)
    assert (job.job_id, job.adopted) == (pending, True)


def test_a_409_means_a_sync_started_meanwhile_and_is_adopted(h: Harness) -> None:
    raced: list[int] = []

    def start_one_right_after_the_lookup(response: requests.Response, **_: Any) -> None:
        if response.request.method == "GET" and "/jobs?" in str(response.request.url) and not raced:
            raced.append(h.sim.start_job(META))

    client = h.new_client(hooks=(start_one_right_after_the_lookup,))
    events: list[SyncEvent] = []
    job = airbyte.sync(
        client, connection_id=META, timeout=600, clock=h.clock, on_event=events.append
    )
    assert (job.job_id, job.adopted, job.status) == (raced[0], True, "succeeded")
    assert calls(h, "POST", "/jobs") == [409]
    assert [e.kind for e in events][:2] == ["conflict", "adopted"]
    assert "A sync is already running" in events[0].detail
    assert len(h.sim.jobs(META)) == 1


def test_without_adoption_a_running_sync_is_refused_with_its_id(h: Harness) -> None:
    running = h.sim.start_job(META)
    with pytest.raises(SyncAlreadyRunning) as raised:
        airbyte.sync(h.client, connection_id=META, adopt_running=False, clock=h.clock)
    assert raised.value.job_id == running
    assert str(running) in str(raised.value)
    assert calls(h, "POST", "/jobs") == [409]
    assert h.sim.job(running)["status"] in ("pending", "running")  # left alone


def test_at_the_deadline_a_job_this_call_started_is_cancelled(h: Harness) -> None:
    h.sim.job_seconds = 10_000
    events: list[SyncEvent] = []
    with pytest.raises(SyncTimedOut) as raised:
        airbyte.sync(
            h.client, connection_id=META, timeout=120, clock=h.clock, on_event=events.append
        )
    error = raised.value
    assert isinstance(error, WaitTimedOut)
    assert error.cancelled and not error.job.adopted
    assert h.sim.job(error.job_id)["status"] == "cancelled"
    assert calls(h, "DELETE", "/jobs/{jobId}") == [200]
    assert "cancelled it (this run had started it)" in str(error)
    assert str(error.job_id) in str(error)
    assert events[-1].kind == "cancelled"
    assert sum(h.clock.slept) == pytest.approx(120)  # the deadline, not a second more


def test_at_the_deadline_an_adopted_job_is_never_cancelled(h: Harness) -> None:
    h.sim.job_seconds = 10_000
    theirs = h.sim.start_job(META)
    with pytest.raises(SyncTimedOut) as raised:
        airbyte.sync(h.client, connection_id=META, timeout=120, clock=h.clock)
    error = raised.value
    assert error.job_id == theirs and error.job.adopted and not error.cancelled
    assert "not ours to cancel" in str(error)
    assert calls(h, "DELETE", "/jobs/{jobId}") == []
    assert h.sim.job(theirs)["status"] == "running"


def test_a_failed_job_raises_sync_failed_with_the_job_id(h: Harness) -> None:
    h.sim.fail_next_job(GOOGLE)
    with pytest.raises(airbyte.SyncFailed) as raised:
        airbyte.sync(h.client, connection_id=GOOGLE, timeout=600, clock=h.clock)
    [failed] = h.sim.jobs(GOOGLE)
    assert raised.value.job_id == failed["jobId"]
    assert raised.value.status == "failed"
    assert f"job {failed['jobId']}" in str(raised.value)
    assert raised.value.exit_code == 1


def test_a_job_cancelled_by_someone_else_is_a_failure(h: Harness) -> None:
    other = h.new_client()

    def cancel_when_running(event: SyncEvent) -> None:
        if event.kind == "status" and event.status == "running":
            assert event.job_id is not None
            other.cancel_job(event.job_id)

    with pytest.raises(SyncFailed) as raised:
        airbyte.sync(
            h.client, connection_id=META, timeout=600, clock=h.clock, on_event=cancel_when_running
        )
    assert raised.value.status == "cancelled"


def test_an_unknown_status_is_reported_once_and_waited_through(h: Harness) -> None:
    events: list[SyncEvent] = []

    def observe(event: SyncEvent) -> None:
        events.append(event)
        if event.kind == "started":
            assert event.job_id is not None
            h.sim.force_status(event.job_id, "paused", seconds=30)

    job = airbyte.sync(h.client, connection_id=META, timeout=600, clock=h.clock, on_event=observe)
    assert job.status == "succeeded"
    unknown = [e for e in events if e.kind == "unknown-status"]
    assert [(e.status, e.job_id) for e in unknown] == [("paused", job.job_id)]
    assert any(c.fault == "forced-status" for c in h.sim.calls)  # it really was answered


def test_an_unknown_status_until_the_deadline_times_out(h: Harness) -> None:
    def observe(event: SyncEvent) -> None:
        if event.kind == "started":
            assert event.job_id is not None
            h.sim.force_status(event.job_id, "paused")

    with pytest.raises(SyncTimedOut) as raised:
        airbyte.sync(h.client, connection_id=META, timeout=90, clock=h.clock, on_event=observe)
    assert raised.value.job.status == "paused"
    assert raised.value.cancelled


def test_transient_503s_are_retried_then_the_sync_succeeds(h: Harness) -> None:
    h.sim.fail_requests(2, status=503, method="GET", path="/jobs/")
    job = airbyte.sync(h.client, connection_id=META, timeout=600, clock=h.clock)
    assert job.status == "succeeded"
    assert calls(h, "GET", "/jobs/{jobId}").count(503) == 2
    assert len(h.retry_sleeps) == 2


def test_sync_all_runs_connections_concurrently_with_one_outcome_each(h: Harness) -> None:
    h.sim.fail_next_job(GOOGLE)
    both_started = threading.Barrier(2, timeout=10)

    def observe(event: SyncEvent) -> None:
        if event.kind == "started":
            both_started.wait()  # breaks (and the test fails) unless both run at the same time

    outcomes = airbyte.sync_all(
        h.client,
        connections={"meta_ads": META, "google_ads": GOOGLE},
        timeout=600,
        clock=h.clock,
        on_event=observe,
    )
    assert [(o.name, o.connection_id, o.ok) for o in outcomes] == [
        ("meta_ads", META, True),
        ("google_ads", GOOGLE, False),
    ]
    meta, google = outcomes
    assert meta.job is not None and meta.job.status == "succeeded"
    assert isinstance(google.error, SyncFailed)
    assert google.job is not None and google.error.job_id == google.job.job_id
    assert google.job.job_id == h.sim.jobs(GOOGLE)[0]["jobId"]


def test_sync_all_of_nothing_is_nothing(h: Harness) -> None:
    assert airbyte.sync_all(h.client, connections={}, clock=h.clock) == []


@pytest.mark.parametrize("pause", ["shortest", "longest"])
def test_a_sandbox_job_paced_to_the_polling_is_seen_done_at_the_first_look(
    monkeypatch: pytest.MonkeyPatch, pause: str
) -> None:
    import random

    from adinsights_ops.sandbox._airbyte_jobs import paced_seconds

    settings = config.load("sandbox", ENVIRONMENTS).airbyte
    assert settings is not None and settings.poll_first is not None
    pending, running = paced_seconds(settings.poll_first)
    # the waiting primitive's jitter, drawn at its lowest or highest
    monkeypatch.setattr(random.Random, "uniform", lambda _, a, b: a if pause == "shortest" else b)
    events: list[SyncEvent] = []
    with airbyte_harness(pending_seconds=pending, job_seconds=running) as h:
        job = airbyte.sync(
            h.client,
            connection_id=META,
            timeout=60,
            clock=h.clock,
            on_event=events.append,
            backoff=settings.polling(airbyte.POLL_BACKOFF),
        )

    assert job.status == "succeeded"
    # what the unpaced sandbox showed too: it never met a job running either
    assert [(e.kind, e.status) for e in events] == [("started", "pending"), ("status", "succeeded")]
    assert len(h.clock.slept) == 1
