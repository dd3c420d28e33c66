"""Typed errors of the extraction pipeline; the CLI and the service map them to exit codes / status codes.

Each layer defines its own on top of these: the model layer in :mod:`spinerad.models.errors`, the service
in :mod:`spinerad.service.errors`.

Every message is one line that names the problem and the offending value, and never carries a patient
identifier: file paths are passed through as the user gave them, voxel data never.
"""


class SpineradError(Exception):
    """Base class of every error spinerad reports to a user."""


class InvalidInput(SpineradError):
    """The request itself is wrong (bad image, mask, label, geometry, settings). gRPC: INVALID_ARGUMENT."""


class ImageReadError(InvalidInput):
    """An image or mask could not be found or decoded."""


class GeometryMismatch(InvalidInput):
    """Mask and image grids differ (size, spacing, origin or direction)."""


class LabelNotFound(InvalidInput):
    """The requested label is absent from the mask (or the mask is empty)."""


class RoiTooSmall(InvalidInput):
    """The ROI is a single voxel, or smaller than minimumROISize/minimumROIDimensions."""


class NonFiniteImage(InvalidInput):
    """NaN or infinite voxel values inside the ROI."""


class SettingsError(InvalidInput):
    """A parameter file or setting is unknown, of the wrong type or out of range."""


class NotSupported(InvalidInput):
    """A valid PyRadiomics option that this version of spinerad does not compute yet."""


class DeviceUnavailable(SpineradError):
    """The requested compute device (CUDA) is not available on this machine. gRPC: UNAVAILABLE."""
