"""Reading a study stream: the next message within the upload timeouts, and not beyond the server's drain.

Markers the engine's stream loops share: :data:`END` (the client half-closed), :data:`DRAINED` (idle
between studies while the server shuts down), :data:`DONE` and :class:`Abort` (the end of an event queue).
"""

import asyncio
import time

from .errors import UploadTimeout

DONE = object()
END = object()  # the client half-closed its stream
DRAINED = object()  # the server is draining and the stream is between studies
#: Seconds a stream between studies may stay silent once the server drains (then it ends UNAVAILABLE).
DRAIN_IDLE_S = 1.0


async def went_away(call_cancelled):
    """Whether the call was cancelled; a dropped connection reads as an end of stream a moment before."""
    if call_cancelled is None:
        return False
    for _ in range(3):
        if call_cancelled():
            return True
        await asyncio.sleep(0.01)
    return call_cancelled()


class Incoming:
    """The next message of a stream, within the upload timeouts and not beyond the server's shutdown.

    While a study is uploading, the wait for its next message is bounded by the idle timeout and by what is
    left of the study's upload time: a stalled or trickling upload ends the call (:class:`UploadTimeout`)
    and frees its admission place. Between studies a stream may idle as long as the client likes, but not
    past a drain: it then ends (:data:`DRAINED`) within :data:`DRAIN_IDLE_S` instead of holding the shutdown
    for the whole grace period. A call that has sent nothing yet is not idle but starting (its header is on
    its way, maybe slowly on a loaded machine): its first message gets the upload idle timeout, so the
    study gets its own answer (refused: the server is shutting down) whichever comes first, the header or
    the drain, rather than a call cut before the header was read.
    """

    def __init__(self, messages, engine):
        self._messages = messages.__aiter__()
        self._engine = engine
        self._drain_wait = None
        self._started = False  # a message (or the end of the stream) arrived

    async def next(self, study):
        """The next message, :data:`END` at the end of the stream, :data:`DRAINED` when idle at shutdown."""
        if study is None:
            return await self._next_between_studies()
        limits = self._engine.limits
        left = study.upload_deadline - time.monotonic()
        idle = limits.upload_idle_timeout_s
        try:
            return await asyncio.wait_for(self._anext(), max(min(idle, left), 0.0))
        except TimeoutError:
            if left <= idle:
                raise UploadTimeout(
                    f"the study's upload took longer than {limits.upload_timeout_s:g} s "
                    f"({study.upload.progress()}); the server's upload timeout cut the call",
                    "total",
                ) from None
            raise UploadTimeout(
                f"the study's upload stalled: no message for {idle:g} s ({study.upload.progress()}); "
                "the server's upload idle timeout cut the call",
                "idle",
            ) from None

    async def _anext(self):
        try:
            return await self._messages.__anext__()
        except StopAsyncIteration:
            return END
        finally:
            self._started = True

    async def _next_between_studies(self):
        engine = self._engine
        reading = asyncio.ensure_future(self._anext())
        try:
            if not engine.draining:
                if self._drain_wait is None:
                    self._drain_wait = asyncio.ensure_future(engine._drain_event.wait())
                await asyncio.wait((reading, self._drain_wait), return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():  # draining: a message already on its way still gets its answer
                patience = DRAIN_IDLE_S if self._started else engine.limits.upload_idle_timeout_s
                await asyncio.wait((reading,), timeout=patience)
        except asyncio.CancelledError:
            reading.cancel()
            raise
        if reading.done():
            return reading.result()
        reading.cancel()
        return DRAINED

    def close(self):
        """Stop waiting for the drain signal."""
        if self._drain_wait is not None:
            self._drain_wait.cancel()


class Abort:
    """The error that ends a call, queued behind the events sent before it."""

    def __init__(self, error):
        self.error = error
