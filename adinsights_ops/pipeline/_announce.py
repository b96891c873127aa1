"""Announcing a deploy (runbook §5 step 11): Slack, SES email, the activity log, the status page; on
failure also the incident log. Each announcement is journaled per channel, so a resumed run never
sends one twice."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from adinsights_ops.errors import describe_error
from adinsights_ops.pipeline._state import DeployRun, Outputs

CHANNELS = ("slack", "email", "activity-log", "status-page")


def announce(run: DeployRun) -> Outputs:
    """Slack, SES, the activity log. A failed channel is reported, not fatal; a resumed run does not
    announce twice. The pipeline releases the lock once the run is journaled as ended."""
    env = run.ops.env
    text = (
        f"ADinsights {run.tag.given} deployed to {env.name} (run {run.record.run_id}, "
        f"by {run.record.who})"
    )
    channels = announce_run(
        run, "succeeded", text=text, subject=f"[{env.name}] {run.tag.given} deployed"
    )
    return {
        "channels": channels,
        "summary": ", ".join(f"{c} {o}" for c, o in channels.items()),
    }


def announce_run(run: DeployRun, key: str, *, text: str, subject: str) -> dict[str, str]:
    """Announce on each configured channel that has not yet had announcement `key` for this run.

    What was sent is journaled after each channel, so a resumed run never sends it twice. Raises
    nothing: a channel that fails is reported as failed.
    """
    from adinsights_ops import notify

    env, notes = run.ops.env, run.ops.env.notifications
    sent = run.record.announced.setdefault(key, {})
    for channel in CHANNELS:
        if sent.get(channel) in ("sent", "skipped"):
            continue
        if channel == "status-page":  # runbook 5.8: raises nothing, like notify.announce
            from adinsights_ops import statuspage

            page = statuspage.announce(
                notes.status_page,
                secretsmanager=lambda: run.ops.aws.client("secretsmanager"),
                run_id=run.record.run_id,
                announcement=key,
                title=subject,
                body=text,
                environment=env.name,
                clock=run.ops.clock,
            )
            sent[channel] = page.outcome + (f": {page.detail}" if page.outcome == "failed" else "")
            with contextlib.suppress(Exception):
                run.save()
            continue
        webhook: Callable[[], Any] | None = None
        if channel == "slack" and notes.slack_webhook_secret:
            webhook = functools.partial(
                notify.webhook_url_from_secret,
                run.ops.aws.client("secretsmanager"),
                secret_id=notes.slack_webhook_secret,
            )
        try:
            announcement = notify.announce(
                None,
                run_id=run.record.run_id,
                text=text,
                subject=subject,
                slack_webhook=webhook,
                ses=run.ops.aws.client("ses") if channel == "email" and notes.email_from else None,
                sender=notes.email_from,
                recipients=notes.email_to,
                activity_log=(
                    env.path(notes.activity_log)
                    if channel == "activity-log" and notes.activity_log
                    else None
                ),
                log_line=text,
                clock=run.ops.clock,
            )
            outcome = announcement.outcome(channel)
            sent[channel] = outcome.outcome + (
                f": {outcome.detail}" if outcome.outcome == "failed" else ""
            )
        except Exception as exc:  # reported, never raised: the deploy's outcome stands
            sent[channel] = f"failed: {type(exc).__name__}"
        # The journal's own failure is the pipeline's to report.
        with contextlib.suppress(Exception):
            run.save()
    return dict(sent)


def tell_failure(run: DeployRun, outcome: str, step: str, error: str) -> list[str]:
    """Announce a failed deploy (Slack, email, activity log) and write the incident log; the
    warnings for what could not be done."""
    env = run.ops.env
    state = {
        "rolled-back": "every service is back on the revision it ran before",
        "failed": "the services were not changed",
        "needs-human": "the rollback did not settle: a person must look",
        "fenced": "another run took the lock; this run stopped",
    }[outcome]
    text = (
        f"ADinsights {run.tag.given} deploy to {env.name} {outcome.upper()} at step {step} "
        f"(run {run.record.run_id}, by {run.record.who}): {error}. State: {state}."
    )
    warnings = []
    channels = announce_run(
        run,
        f"{outcome}:{step}",
        text=text,
        subject=f"[{env.name}] deploy of {run.tag.given} {outcome} at {step}",
    )
    failed = [f"{c} {o}" for c, o in channels.items() if o.startswith("failed")]
    if failed:
        warnings.append("announcement: " + "; ".join(failed))
    if env.notifications.incident_log:
        from adinsights_ops import notify

        try:
            notify.append_activity_log(
                env.path(env.notifications.incident_log),
                line=f"deploy {run.record.run_id} on {env.name} by {run.record.who}: {text}",
                run_id=f"{run.record.run_id} {outcome}:{step}",
                heading="# Operations and incident log\n\n",
            )
        except Exception as exc:
            warnings.append(f"incident log not written: {describe_error(exc)}")
    return warnings
