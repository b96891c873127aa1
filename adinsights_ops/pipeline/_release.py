"""Deploy steps 6-8 (runbook §5): register the new revisions, run the one-off commands on them,
roll the services out. A resumed run reuses what an earlier attempt of it registered or ran."""

from __future__ import annotations

from typing import Any

import attrs

from adinsights_ops import ecs
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.ecs._taskdefs import RevisionPlan
from adinsights_ops.pipeline._state import DeployRun, Outputs

RUN_TAG = "adinsights:run-id"


def register(run: DeployRun) -> Outputs:
    """One new revision per service, tagged with the run id; a resumed run reuses what it registered."""
    client = run.ops.aws.ecs()
    plans = ecs.plan_rollout(
        client,
        cluster=run.cluster,
        services=run.ops.env.service_images(),
        image_tag=run.tag.ecr_tag,
    )
    tag = {"key": RUN_TAG, "value": run.record.run_id}
    plans = [
        attrs.evolve(
            p,
            register_input={
                **p.register_input,
                "tags": [
                    *(t for t in p.register_input.get("tags", []) if t.get("key") != RUN_TAG),
                    tag,
                ],
            },
        )
        for p in plans
    ]
    run.record.previous_revisions = {p.service: p.current for p in plans}
    resumed = run.record.step("register")
    earlier = _registered_earlier(client, run, plans) if resumed and resumed.started else {}
    targets = {p.service: earlier[p.service] for p in plans if p.service in earlier}
    targets.update(ecs.register_revisions(client, [p for p in plans if p.service not in earlier]))
    run.record.deployed_revisions = run.targets = {p.service: targets[p.service] for p in plans}
    return {
        "revisions": {s: ecs.short_arn(a) for s, a in run.targets.items()},
        "changes": {
            p.service: [f"{c.field}: {c.old} -> {c.new}" for c in p.changes] for p in plans
        },
    }


def _registered_earlier(client: Any, run: DeployRun, plans: list[RevisionPlan]) -> dict[str, str]:
    """Service -> the revision an earlier attempt of this run registered (the family's newest, when
    it carries this run's tag), so that a resumed run does not register twice."""
    found = {}
    for plan in plans:
        if not plan.changed:
            continue
        try:
            got = client.describe_task_definition(taskDefinition=plan.family, include=["TAGS"])
        except client.exceptions.ClientException:
            continue
        tags = {t.get("key"): t.get("value") for t in got.get("tags", [])}
        if tags.get(RUN_TAG) == run.record.run_id:
            found[plan.service] = got["taskDefinition"]["taskDefinitionArn"]
    return found


def run_once(run: DeployRun, step: str, index: int, command: str, role: str) -> str:
    """Run a one-off command of a step on service `role`'s NEW revision, once per run: a resume
    adopts a task still running or done. Returns the line the journal keeps."""
    name = run.ops.env.ecs.services[role].name
    result = oneoff.run(
        run.ops,
        command,
        task_definition=run.targets[name],
        role=role,
        idempotency_key=run.task_key(step, index),
        on_event=run.on_event,
        task_network=run.task_network(),
    )
    return f"{command}: exit {result.exit_code} in {result.elapsed:.1f}s"


def one_off(run: DeployRun) -> Outputs:
    """migrate, seed_roles, enable_rls on the NEW backend revision; each must exit 0, once per run."""
    env = run.ops.env
    step = run.record.step("one-off")
    done: list[str] = list(step.outputs.get("commands", [])) if step else []
    for index, command in enumerate(env.release.one_off_commands):
        if index < len(done):
            continue  # finished by an earlier attempt of this run
        done.append(run_once(run, "one-off", index, command, "backend"))
        if step is not None:
            step.outputs["commands"] = list(done)
            run.save()
    return {"commands": done}


def rollout(run: DeployRun) -> Outputs:
    """Every service onto the revision registered for it, together; a failure puts them all back."""
    env = run.ops.env
    run.rollout = ecs.rollout(
        run.ops.aws.ecs(),
        cluster=run.cluster,
        services=env.service_images(),
        image_tag=run.tag.ecr_tag,
        registered=run.targets,
        previous=run.record.previous_revisions,
        singletons=env.ecs.singletons,
        timeout=env.ecs.rollout_timeout,
        on_event=run.on_event,
        clock=run.ops.clock,
        backoff=env.ecs.polling(ecs.DEFAULT_POLL),
    )
    return {"services": {o.service: o.state for o in run.rollout.outcomes}}
