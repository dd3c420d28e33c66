"""The service's data plane: studies in, events out. Plain asyncio and the pipeline; no protobuf, no gRPC.

The servicers (:mod:`spinerad.service.servicers`) only convert messages; everything a study goes through
lives in the engine, in order:

1. :meth:`Engine.open` checks a study's header and takes an admission place, or refuses the study at once
   (:mod:`~spinerad.service.admission`).
2. Chunks are reassembled into per-part buffers of the declared size (:mod:`spinerad.service.upload`),
   the stream read within the upload timeouts (:mod:`~spinerad.service.streams`).
3. The complete study runs on a worker thread: decode -> features (``spinerad.extract``) -> one
   prediction per task, each event handed to the caller as soon as it exists
   (:mod:`~spinerad.service.execution`).

This module holds the engine's lifecycle (load, warm, drain, shutdown), the model queries and the two
study RPCs' stream loops (Analyze, ExtractFeatures); the events are in :mod:`~spinerad.service.events`,
the replay cache in :mod:`~spinerad.service.replay`, FeatureMaps in :mod:`~spinerad.service.feature_maps`.

Analyze streams may carry many studies: a study's own failure (bad input, queue full, ...) becomes a
:class:`Failed` event and the stream goes on; a malformed stream (:class:`ProtocolError`) ends the call.
"""

import asyncio
import logging
import time

from spinerad.errors import InvalidInput, SpineradError
from spinerad.pipeline import extract
from spinerad.settings import load_params

from . import status
from .admission import MODEL_PROFILE, StudyAdmission
from .errors import Cancelled, InternalError, NotReady, ProtocolError, UnknownTask, UploadTimeout
from .events import Accepted, Completed, Failed, FeaturesResult, Predicted, StageDone, StudyRequest
from .execution import StudyExecution
from .feature_maps import FeatureMapsRPC
from .limits import DEFAULT_LIMITS
from .pool import Admission, WorkerPool
from .replay import RecentResults
from .streams import DONE, DRAINED, END, Abort, Incoming, went_away
from .upload import IMAGE, MASK, Chunk

log = logging.getLogger("spinerad.service")


class Engine(StudyAdmission, StudyExecution, FeatureMapsRPC):
    """Admission, reassembly and the worker pool around the extraction pipeline and the model registry."""

    def __init__(self, metrics, workers, queue_size, limits=DEFAULT_LIMITS, scratch_dir=None, dicomweb=None):
        from spinerad.pacs.dicomweb import Endpoints

        self.metrics = metrics
        self.limits = limits
        self.scratch_dir = scratch_dir
        self.dicomweb = dicomweb or Endpoints()
        self.pool = WorkerPool(workers)
        self.admission = Admission(workers + queue_size)
        self.registry = None
        self.profiles = {}
        self.ready = False
        self._draining = False
        self._drain_event = asyncio.Event()
        self.results = RecentResults()

    @property
    def draining(self):
        """Whether the server is shutting down (new studies are refused, idle streams end)."""
        return self._draining

    @draining.setter
    def draining(self, value):
        self._draining = bool(value)
        if value:
            self._drain_event.set()

    # --- lifecycle ------------------------------------------------------------------------------------------

    def load(self, registry):
        """Take the model registry; its extraction parameters become the "model" profile."""
        self.registry = registry
        self.profiles = {MODEL_PROFILE: registry.extraction_params, "pyradiomics": load_params(None)}
        self.metrics.models.info(
            {
                task: f"{card.get('model_id', '?')}@{card.get('model_version', '?')}"
                for task, card in self._cards()
            }
        )

    def _cards(self):
        for task in self.registry.tasks:
            card = self.registry.card(task)
            yield task, card if isinstance(card, dict) else {}

    def warm(self):
        """Compile and exercise every kernel and model once, on a synthetic study, before SERVING."""
        import SimpleITK as sitk

        from spinerad.intake import INTEGER_PIXEL_IDS
        from spinerad.sample import make_sample_study

        image, mask = make_sample_study(seed=0)
        image_types = (sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkFloat32, sitk.sitkFloat64)
        for name, params in self.profiles.items():
            for pixel_type in image_types:
                extract(sitk.Cast(image, pixel_type), mask, params=params)
            for pixel_type in INTEGER_PIXEL_IDS:  # every mask type the ROI kernel is specialised for
                features = extract(image, sitk.Cast(mask, pixel_type), params=params)
            if name == MODEL_PROFILE:
                for task in self.registry.tasks:
                    self.registry.predict(features, tasks=[task], settings_hash=params.settings_hash())

    def shutdown(self):
        """Stop the workers (after the gRPC server stopped)."""
        self.pool.shutdown()

    # --- models ---------------------------------------------------------------------------------------------

    def list_models(self):
        """``(models, profiles, settings hash)``: one ``(task, model_id, model_version)`` per task."""
        self._require_ready()
        models = [
            (task, str(card.get("model_id", "")), str(card.get("model_version", "")))
            for task, card in self._cards()
        ]
        return models, sorted(self.profiles), self.profiles[MODEL_PROFILE].settings_hash()

    def card(self, task):
        """The model card of ``task``."""
        self._require_ready()
        if task not in self.registry.tasks:
            raise UnknownTask(f"unknown task {task[:64]!r}; known tasks: {', '.join(self.registry.tasks)}")
        return self.registry.card(task)

    async def _analyze_one(self, study, emit):
        answered = []

        def keep(event):
            answered.append(event)
            emit(event)

        try:
            _features, stage_ms = await self._run(study, keep, predictions=True)
        except SpineradError as exc:
            self._record_study("Analyze", study, exc)
            emit(Failed(study.request_id, exc))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: the study fails, the stream and the server go on
            _code, _message, reference = status.describe(exc)
            log.exception("study failed with an internal error (reference %s)", reference)
            self._record_study("Analyze", study, exc)
            emit(Failed(study.request_id, InternalError(reference)))
            return
        self._record_study("Analyze", study)
        completed = Completed(study.request_id, stage_ms, study.dicom_objects, study.stored)
        self.results.put(study.request, [*answered, completed])
        emit(completed)

    # --- the two study RPCs ---------------------------------------------------------------------------------

    async def analyze(self, messages, deadline=None, call_cancelled=None):
        """Events of every study in ``messages`` (:class:`StudyRequest` headers and :class:`Chunk` s).

        ``call_cancelled`` (a callable) tells whether the client went away: a stream that ends mid-upload
        is then CANCELLED, not a malformed upload.
        """
        events = asyncio.Queue()
        emit = events.put_nowait
        running = {}  # request id -> (asyncio task, study) of the stream's studies not finished yet
        state = {"open": None, "discarding": False, "seen_header": False, "drained": False}
        incoming = Incoming(messages, self)

        async def read():
            while True:
                message = await incoming.next(state["open"])
                if message is DRAINED:  # idle at shutdown: end the call once its studies are done
                    state["drained"] = True
                    return
                if message is END:
                    break
                if isinstance(message, StudyRequest):
                    self._header(message, state, running, emit, deadline)
                    continue
                if state["discarding"]:  # chunks of a refused study
                    self.metrics.received_bytes.labels("refused").inc(len(message.data))
                    continue
                study = state["open"]
                if study is None:
                    raise ProtocolError(
                        "chunk after the study's image and mask were complete; send a header first"
                        if state["seen_header"]
                        else "chunk before any study header; send a StudyHeader first"
                    )
                self.metrics.received_bytes.labels(_part_label(message.part)).inc(len(message.data))
                if study.upload.add(message):
                    state["open"] = None
                    task = asyncio.create_task(self._analyze_one(study, emit))
                    running[study.request_id] = (task, study)
                    task.add_done_callback(lambda _t, rid=study.request_id: running.pop(rid, None))
            if state["open"] is not None:
                if await went_away(call_cancelled):
                    raise Cancelled("the client went away during the upload")
                raise ProtocolError(
                    "the stream ended before the study's image and mask were complete "
                    f"({state['open'].upload.progress()})"
                )

        async def pump():
            try:
                await read()
                while running:
                    await asyncio.gather(*[task for task, _study in running.values()])
                if state["drained"]:
                    raise NotReady("the server is shutting down; send further studies to another replica")
            except Exception as exc:
                emit(Abort(exc))
                return
            emit(DONE)

        pumping = asyncio.create_task(pump())
        ended_by = None
        try:
            while True:
                event = await events.get()
                if event is DONE:
                    break
                if isinstance(event, Abort):
                    ended_by = event.error
                    raise event.error
                yield event
        finally:
            pumping.cancel()
            incoming.close()
            if not isinstance(ended_by, SpineradError):  # the generator was closed: the call is over
                ended_by = Cancelled("the call ended")
            if isinstance(ended_by, UploadTimeout):
                self.metrics.upload_timeouts.labels(ended_by.kind).inc()
            if state["open"] is not None:
                self._record_study("Analyze", state["open"], ended_by)
                state["open"].release()
            for task, study in list(running.values()):  # stop their workers; free places never queued
                task.cancel()
                study.token.cancel()
                self._record_study("Analyze", study, Cancelled("the call ended"))
                if not study.submitted:
                    study.release()

    def _header(self, request, state, running, emit, deadline):
        if state["open"] is not None:
            raise ProtocolError(
                "a new study header arrived before the previous study's image and mask were complete "
                f"({state['open'].upload.progress()})"
            )
        state["seen_header"] = True
        state["discarding"] = False
        started = time.perf_counter()
        replay = self.results.get(request) if self.ready and not self.draining else None
        if replay is not None:  # sent again (its replica's answer was lost): answer, do not compute again
            self.metrics.replayed.inc()
            self._record_study("Analyze", started)
            state["discarding"] = True
            for event in replay:
                emit(event)
            return
        try:
            if request.request_id in running:
                raise InvalidInput(
                    "request_id is already in use by a study of this stream that is not finished"
                )
            study, ahead = self.open(request, deadline, predictions=True)
        except SpineradError as exc:
            self._record_study("Analyze", started, exc)
            state["discarding"] = True
            emit(Failed(request.request_id, exc))
            return
        state["open"] = study
        emit(Accepted(request.request_id, ahead))
        if request.reference is not None:  # nothing to upload: the server fetches the study itself
            state["open"] = None
            task = asyncio.create_task(self._analyze_one(study, emit))
            running[study.request_id] = (task, study)
            task.add_done_callback(lambda _t, rid=study.request_id: running.pop(rid, None))

    async def extract_features(self, messages, deadline=None, call_cancelled=None):
        """Features of the one study in ``messages``; raises on any failure."""
        study = None
        started = time.perf_counter()
        incoming = Incoming(messages, self)
        try:
            while True:
                uploading = study if study is not None and not study.upload.complete else None
                message = await incoming.next(uploading)
                if message is END:
                    break
                if message is DRAINED:
                    raise NotReady("the server is shutting down; send the study to another replica")
                if isinstance(message, StudyRequest):
                    if study is not None and not study.upload.complete:
                        raise ProtocolError(
                            "a new study header arrived before the previous study's image and mask were "
                            "complete "
                            f"({study.upload.progress()})"
                        )
                    if study is not None:
                        raise ProtocolError("ExtractFeatures takes one study, but a second header arrived")
                    study, _ahead = self.open(message, deadline, predictions=False)
                    continue
                if study is None:
                    raise ProtocolError("chunk before any study header; send a StudyHeader first")
                self.metrics.received_bytes.labels(_part_label(message.part)).inc(len(message.data))
                study.upload.add(message)
            if study is None:
                raise ProtocolError("the stream ended without a study header")
            if not study.upload.complete:
                if await went_away(call_cancelled):
                    raise Cancelled("the client went away during the upload")
                raise ProtocolError(
                    "the stream ended before the study's image and mask were complete "
                    f"({study.upload.progress()})"
                )
            features, stage_ms = await self._run(study, None, predictions=False)
        except BaseException as exc:
            error = exc if isinstance(exc, SpineradError) else Cancelled("the call ended")
            if isinstance(exc, UploadTimeout):
                self.metrics.upload_timeouts.labels(exc.kind).inc()
            self._record_study("ExtractFeatures", study if study is not None else started, error)
            raise
        finally:
            incoming.close()
            if study is not None and not study.submitted:
                study.release()
        self._record_study("ExtractFeatures", study)
        return FeaturesResult(study.request_id, features, stage_ms, study.settings_hash)


def _part_label(part):
    return part if part in (IMAGE, MASK) else "unknown"


__all__ = [
    "Accepted",
    "Chunk",
    "Completed",
    "Engine",
    "Failed",
    "FeaturesResult",
    "MODEL_PROFILE",
    "Predicted",
    "StageDone",
    "StudyRequest",
]
