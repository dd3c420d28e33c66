"""Errors of the model layer: unknown tasks, mismatched models and features, unreadable models, bad cohorts.

They are :class:`spinerad.errors.InvalidInput` (the request is wrong), so the CLI exits with 2 and the service
answers INVALID_ARGUMENT for every one of them, as for the pipeline's own input errors.
"""

from ..errors import InvalidInput


class UnknownTask(InvalidInput):
    """A prediction task that no loaded model (or no known task table entry) provides."""


class ModelMismatch(InvalidInput):
    """Features extracted with other settings than a model's (settings hash differs), or mixed models."""


class FeatureMismatch(InvalidInput):
    """Features or clinical values given to a model are missing, extra, non-finite or of the wrong kind."""


class ModelLoadError(InvalidInput):
    """A model folder or file is missing, unreadable or not a spinerad model."""


class CohortError(InvalidInput):
    """A training cohort CSV is malformed: a missing column, a non-binary label, an unreadable case."""


__all__ = ["CohortError", "FeatureMismatch", "ModelLoadError", "ModelMismatch", "UnknownTask"]
