"""The HTTP side of the simulated Airbyte API (`airbyte_sim`): routes, problem answers, arguments.

Airbyte's public API answers errors as problem+json (`type`, `title`, `status`, `detail`); an
endpoint raises `Problem` and the simulator turns it into that answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import attrs
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

PREFIX = "/api/public/v1"
FAULT_HEADER = "X-Sandbox-Fault"


@attrs.frozen
class Call:
    """One request the simulator answered."""

    method: str
    route: str
    """Path template without the API prefix, e.g. /jobs/{jobId} (the raw path for a 404)."""
    path: str
    status: int
    fault: str | None = None


class Problem(Exception):
    """An error answer: `status` with a problem+json body."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


ROUTES = Map(
    [
        Rule(f"{PREFIX}/applications/token", methods=["POST"], endpoint="token"),
        Rule(f"{PREFIX}/health", methods=["GET"], endpoint="health"),
        Rule(f"{PREFIX}/jobs", methods=["GET"], endpoint="list_jobs"),
        Rule(f"{PREFIX}/jobs", methods=["POST"], endpoint="create_job"),
        Rule(f"{PREFIX}/jobs/<int:job_id>", methods=["GET"], endpoint="get_job"),
        Rule(f"{PREFIX}/jobs/<int:job_id>", methods=["DELETE"], endpoint="cancel_job"),
        Rule(f"{PREFIX}/connections/<connection_id>", methods=["GET"], endpoint="get_connection"),
        Rule(
            f"{PREFIX}/connections/<connection_id>", methods=["PATCH"], endpoint="patch_connection"
        ),
    ]
)
TEMPLATES = {
    "token": "/applications/token",
    "health": "/health",
    "list_jobs": "/jobs",
    "create_job": "/jobs",
    "get_job": "/jobs/{jobId}",
    "cancel_job": "/jobs/{jobId}",
    "get_connection": "/connections/{connectionId}",
    "patch_connection": "/connections/{connectionId}",
}
"""Endpoint -> the path template it is known by in `Call.route` and the contract."""
OPEN = frozenset({"token", "health"})
"""Endpoints that need no bearer token."""


def json_answer(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def problem_answer(status: int, title: str, detail: str) -> Response:
    body = {
        "type": f"https://reference.airbyte.com/reference/errors#{title}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def int_arg(text: str, low: int, high: int | None) -> int:
    """A query argument as a number within [low, high]; a 400 Problem otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise Problem(400, "invalid-data", f"not a number: {text!r}") from None
    if value < low or (high is not None and value > high):
        raise Problem(400, "invalid-data", f"out of range: {value}")
    return value


def jobs_page(jobs: list[dict[str, Any]], args: Mapping[str, str], base_url: str) -> dict[str, Any]:
    """GET /jobs: the JobsResponse page of `jobs` (JobResponse views) that the query asks for.

    Filters by connectionId, status and jobType; orders by createdAt or updatedAt, ASC or DESC;
    pages by limit (1-100, default 20) and offset, with `next` and `previous` links.
    """
    limit = int_arg(args.get("limit", "20"), 1, 100)
    offset = int_arg(args.get("offset", "0"), 0, None)
    field, _, direction = args.get("orderBy", "createdAt|ASC").partition("|")
    for key in ("connectionId", "status", "jobType"):
        if key in args:
            jobs = [j for j in jobs if j[key] == args[key]]
    sort_key = "lastUpdatedAt" if field == "updatedAt" else "startTime"
    jobs = sorted(
        jobs, key=lambda j: (j[sort_key], j["jobId"]), reverse=direction.upper() == "DESC"
    )
    page: dict[str, Any] = {"data": jobs[offset : offset + limit]}
    query = {k: v for k, v in args.items() if k not in ("limit", "offset")}
    if offset + limit < len(jobs):
        page["next"] = (
            f"{base_url}?{urlencode({**query, 'limit': limit, 'offset': offset + limit})}"
        )
    if offset > 0:
        back = max(offset - limit, 0)
        page["previous"] = f"{base_url}?{urlencode({**query, 'limit': limit, 'offset': back})}"
    return page
