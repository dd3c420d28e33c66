"""The shipped model registry behind a gate, so tests can hold studies in flight without sleeping.

``GatedRegistry`` wraps ``spinerad.models.registry.load_models()`` with the same interface (tasks, card,
extraction_params, predict); while its gate is closed, ``predict`` waits.
"""

import functools
import threading

from spinerad.models.registry import load_models


@functools.lru_cache(maxsize=1)
def shipped_registry():
    """The shipped demo models, loaded once per process."""
    return load_models()


class GatedRegistry:
    """A ``ModelRegistry`` whose ``predict`` waits while :attr:`gate` is cleared (it is set by default)."""

    def __init__(self, registry=None):
        self.inner = registry or shipped_registry()
        self.gate = threading.Event()
        self.gate.set()
        #: Set when a predict() call waits at the closed gate.
        self.waiting = threading.Event()
        #: predict() calls so far.
        self.calls = 0

    @property
    def tasks(self):
        """Task ids of the wrapped registry."""
        return self.inner.tasks

    @property
    def extraction_params(self):
        """Extraction parameters of the wrapped registry."""
        return self.inner.extraction_params

    def card(self, task):
        """The wrapped registry's model card."""
        return self.inner.card(task)

    def unused_clinical(self, clinical, tasks=None):
        """The wrapped registry's unused clinical names."""
        return self.inner.unused_clinical(clinical, tasks)

    def predict(self, features, tasks=None, clinical=None, settings_hash=None, **options):
        """Wait while the gate is closed, then predict with the wrapped registry."""
        self.calls += 1
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(60)
        return self.inner.predict(
            features, tasks=tasks, clinical=clinical, settings_hash=settings_hash, **options
        )
