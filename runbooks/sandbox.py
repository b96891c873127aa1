"""The embedded sandbox: `inv sandbox.up` keeps one running for several commands."""

from __future__ import annotations

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import JSON_HELP, ops_task, say, to_json


@task(
    klass=options.OpsTask,
    help={
        "env": "the sandbox environment (default: sandbox)",
        "port": "port on 127.0.0.1 (0: any free)",
        "scenario": "failure scenario to start with (none, failing-rollout, failing-migration)",
        "faults": "fault injection: a preset (throttled, chaos) or a JSON spec (docs/runbooks/sandbox.md)",
    },
)
@ops_task
def up(
    c: Context, env: str = "sandbox", port: int = 0, scenario: str = "none", faults: str = ""
) -> None:
    """Run a sandbox in the foreground; other `--env sandbox` commands use it until Ctrl-C."""
    import json
    import signal
    import threading

    from adinsights_ops import config, sandbox
    from adinsights_ops.errors import UsageError
    from adinsights_ops.sandbox.scenarios import scenario_for

    port = options.whole(port, "--port", maximum=65535, what="0 picks a free port")
    environment = config.load(env)
    if not environment.sandbox:
        raise UsageError(f"--env {env!r}: expected a sandbox environment")
    options.scenario(scenario)
    scenario_for(scenario, environment)  # an unknown scenario fails before anything starts
    from adinsights_ops.sandbox.faults import parse_spec

    plan = parse_spec(faults) if faults else sandbox.faults_from_environment()
    if sandbox.running(env):
        raise UsageError(f"a sandbox for {env} already runs ({sandbox.running(env)})")
    server = sandbox.start(environment, scenario=scenario, port=port, faults=plan)
    state = sandbox.state_file(env)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(server.describe()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    injecting = f", faults {json.dumps(plan.spec())}" if plan is not None else ""
    print(f"sandbox {env} ready at {server.endpoint} (scenario {scenario}{injecting})", flush=True)
    say("other `--env sandbox` commands now use it; Ctrl-C stops it")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        state.unlink(missing_ok=True)
        server.stop()
        say("sandbox stopped")


@task(
    klass=options.OpsTask,
    help={"env": "the sandbox environment (default: sandbox)", "json": JSON_HELP},
)
@ops_task
def status(c: Context, env: str = "sandbox", json: bool = False) -> None:
    """Say whether a shared sandbox runs, and where."""
    from json import dumps

    from adinsights_ops import config, sandbox
    from adinsights_ops.errors import UsageError

    if not config.load(env).sandbox:
        raise UsageError(f"--env {env!r}: expected a sandbox environment")
    endpoint = sandbox.running(env)
    if json:
        info = sandbox.control(endpoint) if endpoint is not None else {}
        found = {"environment": env, "running": endpoint is not None, "endpoint": endpoint}
        found.update({k: info.get(k) for k in ("scenario", "started", "faults") if endpoint})
        print(to_json(found))
        return
    if endpoint is None:
        print(
            f"no shared sandbox runs for {env}: commands start their own (or run `inv sandbox.up`)"
        )
        return
    info = sandbox.control(endpoint)
    print(
        f"sandbox {env} at {endpoint}, scenario {info.get('scenario')}, since {info.get('started')}"
        + (f", faults {dumps(info['faults'])}" if info.get("faults") else "")
    )


@task(klass=options.OpsTask, help={"env": "the sandbox environment (default: sandbox)"})
@ops_task
def reset(c: Context, env: str = "sandbox") -> None:
    """Forget what the sandbox remembers between commands (deploys, journal, revisions)."""
    from adinsights_ops import config, sandbox
    from adinsights_ops.errors import UsageError
    from adinsights_ops.sandbox import persist

    environment = config.load(env)
    if not environment.sandbox:
        raise UsageError(f"--env {env!r}: expected a sandbox environment")
    if sandbox.running(env):
        raise UsageError(f"a sandbox for {env} runs now: stop `inv sandbox.up` first")
    forgot = persist.forget(environment)
    print(
        f"sandbox {env}: "
        + ("forgotten; the next one starts from the blueprint" if forgot else "nothing remembered")
    )


ns = Collection("sandbox")
ns.add_task(up)
ns.add_task(status)
ns.add_task(reset)
