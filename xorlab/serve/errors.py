"""The service's error vocabulary: one exception per condition, one base class carrying what every
front end needs to answer it (the HTTP status, the gRPC status code). The front ends render them:
HTTP as JSON `{"error": "..."}` (http/error_handlers.py).

A client's mistake is a 4xx with a message saying what was wrong and what was expected; anything
else is a 500 whose body says nothing about the server's insides (no trace, no paths).
"""

from __future__ import annotations


class ServeError(Exception):
    status = 500
    grpc = "INTERNAL"  # the name of a grpc.StatusCode
    headers: dict[str, str] = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ServeError):
    status = 400
    grpc = "INVALID_ARGUMENT"


class InvalidJSON(BadRequest):
    """The body is not JSON (or is JSON with NaN/Infinity, which JSON does not have)."""


class InvalidRequest(BadRequest):
    """Well-formed JSON whose structure is not the protocol's."""


class InvalidTensor(BadRequest):
    """A tensor with the wrong name, datatype, shape or values."""


class TooManyRows(BadRequest):
    pass


class NotFoundError(ServeError):
    status = 404
    grpc = "NOT_FOUND"


class UnknownModel(NotFoundError):
    pass


class UnknownVersion(NotFoundError):
    pass


class UnknownFile(NotFoundError):
    """A picture or static file the report does not have."""


class Unauthorized(ServeError):
    status = 401
    grpc = "UNAUTHENTICATED"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServeError):
    status = 403
    grpc = "PERMISSION_DENIED"


class TooLarge(ServeError):
    """A request over XORLAB_MAX_BODY_BYTES: as sent, or once decoded (a compressed body)."""

    status = 413
    grpc = "RESOURCE_EXHAUSTED"

    @staticmethod
    def message_for(limit: int) -> str:
        return f"request body too large: the limit is {limit} bytes"


class UnsupportedEncoding(ServeError):
    """A Content-Encoding other than gzip, deflate or identity."""

    status = 415
    grpc = "UNIMPLEMENTED"
    headers = {"Accept-Encoding": "gzip, deflate"}


class NotOffered(ServeError):
    """A part of a protocol this server does not implement (KServe V1 explanations)."""

    status = 501
    grpc = "UNIMPLEMENTED"


class BodyTimeout(ServeError):
    """The client did not send its body within XORLAB_BODY_TIMEOUT. The connection closes after
    the answer: its read side is shut (http/body.py); gunicorn decides Connection itself."""

    status = 408
    grpc = "DEADLINE_EXCEEDED"


class NotReady(ServeError):
    status = 503
    grpc = "UNAVAILABLE"


class Overloaded(ServeError):
    """The worker's slots are taken (connections, calls or request bytes in flight): refused at once,
    to be retried (admission.py)."""

    status = 503
    grpc = "RESOURCE_EXHAUSTED"
    headers = {"Retry-After": "1"}


class ModelNotReady(NotReady):
    pass


class ServerNotReady(NotReady):
    pass
