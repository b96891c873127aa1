"""The sandbox blueprint's observability (runbook 2.3, 7, 9): what the checks of §7 and §9 read.

- CloudWatch datapoints, one a minute from three hours before `now` to three hours after it, so
  that a deploy made while the sandbox runs has data on both sides: the ALB's target response time
  and a 5xx now and then (the blueprint's ALB when it has one, else `app/adinsights-<env>/<id>`),
  and the Celery queue depth per queue (`ADinsights/Celery` `QueueDepth`, dimensions Environment and Queue);
- a few ordinary log lines in each service's log group (the leaked-secret scan has something to
  read, and none of it is a secret);
- the SNS topic `adinsights-<env>-alerts` (an email subscription), the CloudWatch alarms the SLO
  document names and one per Airbyte connection, all notifying the topic;
- EventBridge Scheduler schedules: the dbt build at 05:00 in the app's time zone (an ECS task on
  the backend's task definition) and a weekly credential-rotation reminder (to the topic); an
  EventBridge rule notifying the topic when that dbt task stops;
- with the Airbyte simulator, two past succeeded syncs per connection (20 and 80 minutes ago).

Safe to call again on a seeded sandbox: what exists is left as it is. Alarms are never evaluated
and schedules never run (moto stores them); that is enough for checks that ask whether they exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adinsights_ops import names
from adinsights_ops.config import Environment
from adinsights_ops.postdeploy._metrics import ALB, ERRORS_5XX, LATENCY
from adinsights_ops.sandbox.blueprint_names import prefix, tag_list, tag_map

HOURS_AROUND = 3
QUEUES = {"default": (0, 3), "sync": (1, 6), "snapshots": (0, 1)}  # queue -> (low, high)
LOAD_BALANCER_ID = "4f3c2b1a0e9d8c7b"
TIMEZONE = "America/Jamaica"  # what the simulated app's /api/timezone/ answers
LOG_LINES = {
    "backend": [
        '10.0.1.23 - - "GET /api/health/ HTTP/1.1" 200 58 "-" "ELB-HealthChecker/2.0"',
        '10.0.2.41 - - "GET /api/dashboards/summary/?tenant=tenant-demo HTTP/1.1" 200 5123',
    ],
    "worker": [
        "[INFO/MainProcess] Task analytics.tasks.sync_meta_metrics[7c1e] received",
        "[INFO/ForkPoolWorker-2] Task analytics.tasks.sync_meta_metrics[7c1e] succeeded in 2.1s",
    ],
    "beat": ["[INFO/MainProcess] Scheduler: Sending due task sync-meta-hourly"],
    "frontend": ['10.0.0.12 - - "GET /index.html HTTP/1.1" 200 1432 "-" "Mozilla/5.0"'],
}
SLI_METRICS = {  # sli -> (namespace, metric, statistic or p95, threshold, comparison)
    "api-availability": (ALB, ERRORS_5XX[0], "Sum", 50.0, "GreaterThanThreshold"),
    "api-latency-p95": (ALB, LATENCY, "p95", 1.0, "GreaterThanThreshold"),
    "celery-queue-depth": (
        "ADinsights/Celery",
        "QueueDepth",
        "Maximum",
        100.0,
        "GreaterThanThreshold",
    ),
    "airbyte-sync-freshness": (
        "ADinsights/Airbyte",
        "SyncAgeMinutes",
        "Maximum",
        90.0,
        "GreaterThanThreshold",
    ),
    "dbt-freshness": (
        "ADinsights/dbt",
        "RunResultsAgeHours",
        "Maximum",
        26.0,
        "GreaterThanThreshold",
    ),
}


def load_balancer(env: Environment, elbv2: Any = None) -> str:
    """The ALB's `LoadBalancer` dimension: the blueprint's ALB when there is one (found through
    `elbv2`), else `app/adinsights-<env>/<fixed id>`."""
    from adinsights_ops.postdeploy._metrics import names_environment

    if elbv2 is not None:
        for page in elbv2.get_paginator("describe_load_balancers").paginate():
            for balancer in page.get("LoadBalancers", []):
                dimension = str(balancer["LoadBalancerArn"]).split(":loadbalancer/", 1)[-1]
                if names_environment(dimension, env.name):
                    return dimension
    return f"app/{prefix(env)}/{LOAD_BALANCER_ID}"


def seed_observability(
    clients: Callable[[str], Any],
    env: Environment,
    *,
    airbyte: Any = None,
    now: datetime | None = None,
) -> None:
    """Seed what the post-deploy checks and the go-live checklist read (see the module's doc).

    `airbyte` is the sandbox's AirbyteSimulator (the server's `apps["airbyte"]`), when there is one.
    """
    seed_monitoring(clients, env)
    seed_recent(clients, env, airbyte=airbyte, now=now)


def seed_monitoring(clients: Callable[[str], Any], env: Environment) -> None:
    """What does not depend on the moment: the alerts topic, alarms, schedules and the dbt rule."""
    balancer = load_balancer(env, clients("elbv2"))
    topic = _topic(clients("sns"), env)
    _alarms(clients("cloudwatch"), env, topic, balancer)
    _schedules(clients("scheduler"), clients("ecs"), env, topic)
    _dbt_rule(clients("events"), env, topic)


def seed_recent(
    clients: Callable[[str], Any],
    env: Environment,
    *,
    airbyte: Any = None,
    now: datetime | None = None,
) -> None:
    """What is about `now`: the datapoints around it, recent log lines, the last syncs."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    _metrics(clients("cloudwatch"), env, moment, load_balancer(env, clients("elbv2")))
    _logs(clients("logs"), env, moment)
    if airbyte is not None and env.airbyte is not None:
        for connection_id in env.airbyte.connections.values():
            if not airbyte.jobs(connection_id):
                airbyte.seed_history(connection_id, 80 * 60)
                airbyte.seed_history(connection_id, 20 * 60)


def _metrics(cloudwatch: Any, env: Environment, now: datetime, balancer: str) -> None:
    existing = cloudwatch.list_metrics(Namespace=ALB, MetricName=LATENCY).get("Metrics", [])
    lb = {"Name": "LoadBalancer", "Value": balancer}
    if any(lb in m.get("Dimensions", []) for m in existing):
        return
    data: list[dict[str, Any]] = []
    minutes = HOURS_AROUND * 60
    for i in range(-minutes, minutes + 1):
        at = now + timedelta(minutes=i)
        wobble = (i * 37) % 100 / 100  # deterministic, between 0 and 1
        data.append(_datum(LATENCY, [lb], at, 0.08 + 0.12 * wobble, "Seconds"))
        if i % 20 == 0:
            data.append(_datum(ERRORS_5XX[0], [lb], at, 1.0, "Count"))
        for queue, (low, high) in QUEUES.items():
            dims = [{"Name": "Environment", "Value": env.name}, {"Name": "Queue", "Value": queue}]
            depth = low + round((high - low) * ((i * 13 + len(queue)) % 10) / 9)
            data.append(_datum("QueueDepth", dims, at, float(depth), "Count", "ADinsights/Celery"))
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for datum in data:
        by_namespace.setdefault(datum.pop("Namespace"), []).append(datum)
    for namespace, items in by_namespace.items():
        for start in range(0, len(items), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=items[start : start + 500])


def _datum(
    metric: str,
    dims: list[dict[str, str]],
    at: datetime,
    value: float,
    unit: str,
    namespace: str = ALB,
) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": dims,
        "Timestamp": at,
        "Value": value,
        "Unit": unit,
    }


def _logs(logs: Any, env: Environment, now: datetime) -> None:
    from adinsights_ops.sandbox.blueprint_storage import log_group_name

    for role, lines in LOG_LINES.items():
        group = log_group_name(env, role)
        stream = f"ecs/{role}/{prefix(env)}-seeded"
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)
        if streams.get("logStreams"):
            continue
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        start = int((now - timedelta(minutes=5)).timestamp() * 1000)
        events = [{"timestamp": start + n * 1000, "message": line} for n, line in enumerate(lines)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def _topic(sns: Any, env: Environment) -> str:
    arn: str = sns.create_topic(Name=names.alerts_topic(env.name), Tags=tag_list(tag_map(env)))[
        "TopicArn"
    ]
    if not sns.list_subscriptions_by_topic(TopicArn=arn).get("Subscriptions"):
        for address in env.notifications.email_to or ("ops@adinsights.example",):
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
    return arn


def _alarms(cloudwatch: Any, env: Environment, topic: str, balancer: str) -> None:
    for sli, (namespace, metric, stat, threshold, comparison) in SLI_METRICS.items():
        kwargs: dict[str, Any] = (
            {"ExtendedStatistic": stat} if stat == "p95" else {"Statistic": stat}
        )
        dims = (
            [{"Name": "LoadBalancer", "Value": balancer}]
            if namespace == ALB
            else [{"Name": "Environment", "Value": env.name}]
        )
        cloudwatch.put_metric_alarm(
            AlarmName=names.sli_alarm(env.name, sli),
            AlarmDescription=f"ADinsights {env.name} SLI {sli} (docs/ops/slo-sli.md)",
            Namespace=namespace,
            MetricName=metric,
            Dimensions=dims,
            Period=300,
            EvaluationPeriods=3,
            Threshold=threshold,
            ComparisonOperator=comparison,
            TreatMissingData="notBreaching",
            ActionsEnabled=True,
            AlarmActions=[topic],
            OKActions=[topic],
            **kwargs,
        )
    for name in env.airbyte.connections if env.airbyte else {}:
        cloudwatch.put_metric_alarm(
            AlarmName=names.airbyte_alarm(env.name, name),
            AlarmDescription=f"Airbyte {name} sync failed ({env.name})",
            Namespace="ADinsights/Airbyte",
            MetricName="SyncFailures",
            Dimensions=[
                {"Name": "Environment", "Value": env.name},
                {"Name": "Connection", "Value": name},
            ],
            Statistic="Sum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=0.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            ActionsEnabled=True,
            AlarmActions=[topic],
        )


def _schedules(scheduler: Any, ecs: Any, env: Environment, topic: str) -> None:
    role = f"arn:aws:iam::{env.account}:role/{prefix(env)}-scheduler"
    existing = {
        s["Name"] for s in scheduler.list_schedules(NamePrefix=prefix(env)).get("Schedules", [])
    }
    dbt_name = names.dbt_schedule(env.name)
    if dbt_name not in existing:
        cluster = ecs.describe_clusters(clusters=[env.ecs.cluster])["clusters"][0]["clusterArn"]
        family = ecs.describe_task_definition(taskDefinition=env.ecs.one_off_family)
        target = env.dbt.target if env.dbt else env.name
        scheduler.create_schedule(
            Name=dbt_name,
            Description="dbt incremental build, daily at 05:00 local time (runbook section 9)",
            ScheduleExpression="cron(0 5 * * ? *)",
            ScheduleExpressionTimezone=TIMEZONE,
            FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED",
            Target={
                "Arn": cluster,
                "RoleArn": role,
                "EcsParameters": {
                    "TaskDefinitionArn": family["taskDefinition"]["taskDefinitionArn"],
                    "LaunchType": "FARGATE",
                    "TaskCount": 1,
                },
                "Input": json.dumps(
                    {
                        "containerOverrides": [
                            {
                                "name": env.ecs.one_off_container,
                                "command": ["dbt", "build", "--target", target],
                            }
                        ]
                    }
                ),
            },
        )
    reminder = names.rotation_schedule(env.name)
    if reminder not in existing:
        scheduler.create_schedule(
            Name=reminder,
            Description="Weekly reminder: credentials expiring, DEK rotation due (rotate_deks)",
            ScheduleExpression="cron(0 9 ? * MON *)",
            ScheduleExpressionTimezone=TIMEZONE,
            FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED",
            Target={
                "Arn": topic,
                "RoleArn": role,
                "Input": json.dumps(
                    {
                        "subject": f"[{env.name}] credential rotation reminder",
                        "text": "Check expiring Meta/Google tokens; run inv kms.rotate-deks if due.",
                    }
                ),
            },
        )


def _dbt_rule(events: Any, env: Environment, topic: str) -> None:
    rule = names.dbt_notify_rule(env.name)
    events.put_rule(
        Name=rule,
        Description="Notify when the scheduled dbt build task stops (success or failure)",
        EventPattern=json.dumps(
            {
                "source": ["aws.ecs"],
                "detail-type": ["ECS Task State Change"],
                "detail": {
                    "lastStatus": ["STOPPED"],
                    "group": [f"family:{env.ecs.one_off_family}"],
                },
            }
        ),
        State="ENABLED",
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "alerts-topic", "Arn": topic}])
