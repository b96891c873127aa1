"""What a request to the sandbox server asks for (protocol, service, AWS operation, S3 key), and
the wire-level pieces of its answers (errors in the protocol's shape, a dropped connection).

The server classifies every AWS request it answers with these (to record it, to decide its faults,
to count its effects and to keep CloudTrail's record of it), and answers errors in the request's
protocol's shape with `aws_error`.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from adinsights_ops.aws import is_mutating

INTERNAL_HEADER = "X-Adinsights-Sandbox-Internal"
"""Set on the server's own requests (seeding, saving): never faulted, never counted as effects."""


def protocol_of(environ: dict[str, Any], body: bytes) -> str:
    """json (X-Amz-Target), query (Action=...) or rest (S3 and other REST APIs)."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if "Action" in parse_qs(environ.get("QUERY_STRING", "")):
        return "query"
    form = "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")
    if body and form and "Action" in parse_qs(body.decode("utf-8", "replace")):
        return "query"
    return "rest"


def signing_service(environ: dict[str, Any]) -> str:
    """The service in the request's SigV4 credential scope (`.../eu-west-1/s3/aws4_request`)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else ""


def operation_of(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation a request asks for, from its target header, Action, or method and path."""
    return operation_and_key(environ, body)[0]


def operation_and_key(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(operation, S3 object key or "") of a request; S3 operations by their API names."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target.rsplit(".", 1)[-1]), ""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return str(query["Action"][0]), ""
    if body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0], ""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    if signing_service(environ) == "s3":
        return s3_operation(method, path, query, environ)
    return f"{method} {path}", ""


_S3_SUBRESOURCES = (
    "tagging", "versioning", "lifecycle", "policy", "encryption", "acl", "cors", "logging",
    "notification", "publicAccessBlock", "ownershipControls", "website", "replication",
    "location", "object-lock", "accelerate", "requestPayment", "inventory", "metrics",
    "analytics", "intelligent-tiering",
)  # fmt: skip


def s3_operation(
    method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]
) -> tuple[str, str]:
    """The S3 API operation of a path-style request, and its object key."""
    bucket, _, key = path.lstrip("/").partition("/")
    key = unquote(key)
    sub = next((s for s in _S3_SUBRESOURCES if s in query), "")
    suffix = "".join(part[:1].upper() + part[1:] for part in sub.split("-"))
    if not bucket:
        return "ListBuckets", ""
    if key:
        if method == "PUT":
            if "partNumber" in query:
                return "UploadPart", key
            if sub:
                return f"PutObject{suffix}", key
            copy = environ.get("HTTP_X_AMZ_COPY_SOURCE")
            return ("CopyObject" if copy else "PutObject"), key
        if method == "POST":
            return (
                "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
            ), key
        if method == "DELETE":
            return ("AbortMultipartUpload" if "uploadId" in query else "DeleteObject"), key
        if method == "HEAD":
            return "HeadObject", key
        return (f"GetObject{suffix}" if sub else "GetObject"), key
    if method == "GET":
        if sub:
            return f"GetBucket{suffix}", ""
        if "versions" in query:
            return "ListObjectVersions", ""
        if "uploads" in query:
            return "ListMultipartUploads", ""
        return ("ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"), ""
    if method == "PUT":
        return (f"PutBucket{suffix}" if sub else "CreateBucket"), ""
    if method == "DELETE":
        return (f"DeleteBucket{suffix}" if sub else "DeleteBucket"), ""
    if method == "POST" and "delete" in query:
        return "DeleteObjects", ""
    return ("HeadBucket" if method == "HEAD" else f"{method} {path}"), ""


def call_is_mutating(operation: str) -> bool:
    method = operation.split(" ", 1)[0]
    if method in ("PUT", "POST", "DELETE", "PATCH"):
        return True
    return " " not in operation and is_mutating(operation)


def aws_error(
    protocol: str, status: str, code: str, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an AWS error answer in the protocol's shape: json, query or rest."""
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        return status, [*headers, ("Content-Length", str(len(body)))], body
    message = escape(message)
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>sandbox</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amzn-ErrorType", code)]
    return status, [*headers, ("Content-Length", str(len(body)))], body


IDEMPOTENT = ("RunTask",)
"""Operations whose clientToken makes a repeated call answer the first one's result (ECS)."""


def client_token(operation: str, body: bytes) -> str | None:
    if operation not in IDEMPOTENT:
        return None
    try:
        token = json.loads(body or b"{}").get("clientToken")
    except (ValueError, AttributeError):
        return None
    return f"{operation}/{token}" if isinstance(token, str) and token else None


INTERNAL_ENVIRON = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")


def mark_internal(request: Any, **_: Any) -> None:
    """botocore before-send hook of the server's own session: mark its requests as internal."""
    request.headers[INTERNAL_HEADER] = "1"


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection without an answer (a TCP reset), then end this request."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client went away already
    # werkzeug treats a ConnectionError as a dropped connection: no answer, no log.
    raise ConnectionResetError("sandbox fault injection: connection reset")
