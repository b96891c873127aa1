"""LookupEvents' request as CloudTrail reads it: time range, one attribute, page size, NextToken.

`parse` checks a request the way the API does and answers the API's Invalid*Exception codes
(`LookupRefused`); a NextToken continues below the last event of the page it came from, and only
for the same query, so paging is stable while new events arrive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

ATTRIBUTES = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50
RETENTION_SECONDS = 90 * 24 * 3600


class LookupRefused(ValueError):
    """A LookupEvents request the API refuses: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen
class Query:
    """A checked LookupEvents request."""

    limit: int
    start: float
    end: float
    attribute: tuple[str, str] | None
    insight: bool
    before: int | None
    """Only events older than this sequence number (from NextToken); None: from the newest."""
    asked: str = ""
    """The request's filters as given (a default end is "now": it moves from page to page)."""

    def token(self, seq: int) -> str:
        """The NextToken of a page whose last event is `seq`."""
        raw = json.dumps({"before": seq, "query": _digest(self)}).encode()
        return base64.urlsafe_b64encode(raw).decode()


def _digest(query: Query) -> str:
    return hashlib.sha256(query.asked.encode()).hexdigest()[:16]


def parse(request: Mapping[str, Any], now: float) -> Query:
    """The query of a LookupEvents request (its JSON body, parsed); LookupRefused if invalid."""
    limit = request.get("MaxResults", MAX_RESULTS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
        raise LookupRefused(
            "InvalidMaxResultsException",
            f"Value {limit!r} for MaxResults is invalid: expected 1 to {MAX_RESULTS}.",
        )
    start = _time(request.get("StartTime"), now - RETENTION_SECONDS)
    end = _time(request.get("EndTime"), now)
    if start > end:
        raise LookupRefused(
            "InvalidTimeRangeException", "Start time must be before or equal to end time."
        )
    category = request.get("EventCategory")
    if category not in (None, "insight"):
        raise LookupRefused(
            "InvalidEventCategoryException", f"Event category {category!r} is invalid."
        )
    query = Query(
        limit=limit,
        start=start,
        end=end,
        attribute=_attribute(request.get("LookupAttributes")),
        insight=category == "insight",
        before=None,
        asked=json.dumps(
            [request.get(k) for k in ("StartTime", "EndTime", "LookupAttributes", "EventCategory")],
            sort_keys=True,
            default=str,
        ),
    )
    token = request.get("NextToken")
    return query if token is None else attrs.evolve(query, before=_from_token(token, query))


def _time(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise LookupRefused("InvalidTimeRangeException", f"Time {value!r} is invalid.")


def _attribute(value: Any) -> tuple[str, str] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise LookupRefused(
            "InvalidLookupAttributesException",
            "LookupAttributes can contain only one item (an AttributeKey and an AttributeValue).",
        )
    key, wanted = value[0].get("AttributeKey"), value[0].get("AttributeValue")
    if key not in ATTRIBUTES:
        raise LookupRefused(
            "InvalidLookupAttributesException",
            f"AttributeKey {key!r} is invalid: expected one of {', '.join(ATTRIBUTES)}.",
        )
    if not isinstance(wanted, str) or not wanted:
        raise LookupRefused(
            "InvalidLookupAttributesException", f"AttributeValue for {key} is required."
        )
    return str(key), wanted


def _from_token(token: Any, query: Query) -> int:
    """The sequence number a NextToken continues below; it must come from the same query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        before, digest = data["before"], data["query"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        before, digest = None, None
    if not isinstance(before, int) or digest != _digest(query):
        raise LookupRefused(
            "InvalidNextTokenException",
            "NextToken is invalid: it must come from a LookupEvents call with the same parameters.",
        )
    return before
