"""Errors of the service layer (admission, readiness, framing, auth), beside the pipeline's own.

Like the pipeline's errors they know nothing of gRPC: :mod:`spinerad.service.status` maps every one of them
to a status code, in one table. Messages are one line and never carry a patient identifier.
"""

from spinerad.errors import InvalidInput, SpineradError

# UnknownTask and ModelMismatch belong to the model registry; re-exported so the service imports one module.
from spinerad.models.errors import ModelMismatch, UnknownTask


class ProtocolError(InvalidInput):
    """The upload stream is malformed: chunk before header, out of order, beyond the declared size, ..."""


class LimitExceeded(InvalidInput):
    """A declared size exceeds a configured limit (upload bytes, voxels, DICOM instances)."""


class QueueFull(SpineradError):
    """The admission queue is full; the client should retry later or elsewhere. gRPC: RESOURCE_EXHAUSTED."""


class NotReady(SpineradError):
    """The server is warming up or draining and takes no new studies. gRPC: UNAVAILABLE."""


class Unauthenticated(SpineradError):
    """Missing or wrong bearer token. gRPC: UNAUTHENTICATED."""


class Cancelled(SpineradError):
    """The call ended (client cancel or shutdown) and its study's work was stopped. gRPC: CANCELLED."""


class DeadlineExceeded(SpineradError):
    """The call's deadline passed before its study finished; the work was stopped. gRPC: DEADLINE_EXCEEDED."""


class UploadTimeout(DeadlineExceeded):
    """An admitted study's upload stalled or took too long; the call is cut. gRPC: DEADLINE_EXCEEDED."""

    def __init__(self, message, kind):
        super().__init__(message)
        #: "idle" (no message for too long) or "total" (the whole upload took too long).
        self.kind = kind


class InternalError(SpineradError):
    """An unexpected exception in a per-study error event: a generic message and a log reference."""

    def __init__(self, reference):
        super().__init__(f"internal error (reference {reference}); the server log has the details")
        self.reference = reference


__all__ = [
    "Cancelled",
    "InternalError",
    "DeadlineExceeded",
    "LimitExceeded",
    "ModelMismatch",
    "NotReady",
    "ProtocolError",
    "QueueFull",
    "Unauthenticated",
    "UnknownTask",
    "UploadTimeout",
]
