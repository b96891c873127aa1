"""How a sandbox server is seeded: the blueprint (restored from a snapshot when one is kept), then
what belongs to this server and this moment.

The blueprint and its monitoring (alarms, schedules, the alerts topic) are the same for every
sandbox of an environment, so they come from `snapshot` after the first seed. What is about now is
made fresh each time: the Slack and status-page stand-ins' addresses (this server's port), the cost
data (today), the CloudWatch datapoints and log lines around now, the Airbyte jobs' history, and
what the sandbox remembered from the previous command (`persist`).
"""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adinsights_ops.sandbox import CREDENTIALS, direct_metrics, persist
from adinsights_ops.sandbox._control import CONTROL
from adinsights_ops.sandbox._requests import mark_internal

if TYPE_CHECKING:
    from adinsights_ops.sandbox.blueprint import Blueprint
    from adinsights_ops.sandbox.server import SandboxServer

Clients = Callable[[str], Any]


def seed_server(server: SandboxServer) -> Clients:
    """Seed `server` (its `blueprint` and `cost_seed` set); returns the clients it seeded with."""
    from adinsights_ops.aws import new_session
    from adinsights_ops.sandbox import snapshot
    from adinsights_ops.sandbox.blueprint import seed
    from adinsights_ops.sandbox.blueprint_cost import seed_cost
    from adinsights_ops.sandbox.blueprint_observability import seed_monitoring, seed_recent

    env = server.env
    session = new_session(  # the process's botocore loader: each model parsed once
        region_name=env.region,
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    session.events.register("before-send", mark_internal)
    event, in_process = server.in_process_hook()  # the server's own calls skip HTTP too
    session.events.register(event, in_process)

    @functools.cache  # one client per service for the whole seed
    def client(service: str) -> Any:
        made = session.client(service, endpoint_url=server.endpoint)  # type: ignore[call-overload]
        return direct_metrics.for_seeding(service, made, env.account, env.region, server.lock)

    def blueprint() -> Blueprint:
        # moto's state is global to the process: a new sandbox starts from nothing.
        reset = urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        seeded = seed(client, env)
        seed_monitoring(client, env)
        with server.lock:
            server.scheduler.settle()
        return seeded

    key = snapshot.fingerprint(env, "server", server.scheduler.timings)
    server.blueprint = snapshot.restore_or_seed(key, blueprint, server.scheduler)
    _point_stand_ins_here(server, client)
    server.cost_seed = seed_cost(client, env, endpoint=server.endpoint)
    seed_recent(client, env, airbyte=server.apps.get("airbyte"))
    with server.lock:
        server.scheduler.settle()
    remembered = persist.load(env) if server.remember else None
    if remembered is not None:
        persist.replay(client, env, remembered)
        with server.lock:
            server.scheduler.settle()
    return client


def _point_stand_ins_here(server: SandboxServer, client: Clients) -> None:
    """The blueprint's Slack webhook secret and the status page's token name this server's
    stand-ins (the webhook keeping its sentinel); the release email's sender is verified."""
    from adinsights_ops.sandbox.blueprint_secrets import secret_value
    from adinsights_ops.sandbox.statuspage_sim import seed_token

    env = server.env
    secret_arn = server.blueprint.secret_arns.get("slack-webhook-url")
    if secret_arn and "slack" in server.apps:
        token = secret_value(env, "slack-webhook-url").rsplit("/", 1)[-1]
        url = f"{server.endpoint}{CONTROL}/slack/services/{token}"
        client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=url)
    if env.notifications.email_from:
        client("ses").verify_email_identity(EmailAddress=env.notifications.email_from)
    seed_token(client, env, url=f"{server.endpoint}{CONTROL}/statuspage")
