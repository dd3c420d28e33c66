"""The one table from exceptions to gRPC status codes (by name), and the message a client may see.

The interceptor (:mod:`spinerad.service.interceptors`) aborts calls with these codes; Analyze's per-study
error events carry the same names. Anything not in the table is a bug: INTERNAL with a generic message and a
reference that points to the server log (the log has the traceback, never voxel data or patient names).
"""

import uuid

from spinerad.errors import DeviceUnavailable, InvalidInput
from spinerad.pacs.dicomweb import EndpointError, ReferenceNotFound

from .errors import Cancelled, DeadlineExceeded, InternalError, NotReady, QueueFull, Unauthenticated

#: Exception class -> status code name; the first matching entry wins (subclasses before their bases).
STATUS_BY_ERROR = (
    (InvalidInput, "INVALID_ARGUMENT"),
    (QueueFull, "RESOURCE_EXHAUSTED"),
    (NotReady, "UNAVAILABLE"),
    (DeviceUnavailable, "UNAVAILABLE"),
    (Unauthenticated, "UNAUTHENTICATED"),
    (DeadlineExceeded, "DEADLINE_EXCEEDED"),
    (Cancelled, "CANCELLED"),
    (ReferenceNotFound, "NOT_FOUND"),
    (EndpointError, "UNAVAILABLE"),
)


def code_name(exc):
    """The status code name of an exception ("INTERNAL" for anything unexpected)."""
    for error_type, name in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return name
    return "INTERNAL"


def describe(exc):
    """``(code name, message for the client, log reference or None)``.

    Expected errors pass their own one-line message through; an unexpected one gets a generic message with
    a short reference under which the server logged it.
    """
    name = code_name(exc)
    if isinstance(exc, InternalError):
        return name, str(exc), exc.reference
    if name != "INTERNAL":
        return name, str(exc), None
    reference = uuid.uuid4().hex[:12]
    return name, f"internal error (reference {reference}); the server log has the details", reference
