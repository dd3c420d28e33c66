"""The service's data plane: studies in, events out. Plain asyncio and the pipeline; no protobuf, no gRPC.

The servicers (:mod:`spinerad.service.servicers`) only convert messages; everything a study goes through
lives here, in order:

1. :meth:`Engine.open` checks a study's header (readiness, request id, encodings against the limits,
   profile, tasks, clinical values) and takes an admission place, or refuses the study at once.
2. Chunks are reassembled into per-part buffers of the declared size (:mod:`spinerad.service.upload`).
3. The complete study runs on a worker thread: decode -> features (``spinerad.extract``) -> one
   prediction per task, each event handed to the caller as soon as it exists.

Analyze streams may carry many studies: a study's own failure (bad input, queue full, ...) becomes a
:class:`Failed` event and the stream goes on; a malformed stream (:class:`ProtocolError`) ends the call.
"""

import asyncio
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field

import pydicom

from spinerad.errors import InvalidInput, SpineradError
from spinerad.pipeline import extract
from spinerad.settings import load_params

from . import status
from .decode import DicomEncoding, check_spec, decode_study, decode_volume
from .errors import (
    Cancelled,
    InternalError,
    LimitExceeded,
    ModelMismatch,
    NotReady,
    ProtocolError,
    UnknownTask,
    UploadTimeout,
)
from .limits import DEFAULT_LIMITS
from .memory import release_memory
from .pool import Admission, CancellableTimer, CancelToken, WorkerPool
from .upload import IMAGE, MASK, Chunk, StudyUpload

log = logging.getLogger("spinerad.service")

#: The profile the models were trained on; the default of every request.
MODEL_PROFILE = "model"

_MAX_REQUEST_ID = 128
_MAX_CLINICAL = 64


# --- what goes in -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyRequest:
    """A study's header: who asks (request id), what to compute, and how the volumes are encoded."""

    request_id: str
    image: object  # decode.VolumeSpec
    mask: object
    tasks: tuple = ()
    profile: str = ""
    clinical: dict = field(default_factory=dict)
    label: int = 0
    #: The image's modality (DICOM code) when its encoding carries no DICOM header; "" = unknown.
    modality: str = ""
    #: Give the label even for a study outside a model's applicability domain.
    show_label_outside_domain: bool = False
    #: DICOM masks: SEG segment number (0: none) / RTSTRUCT ROI name or SEG label ("": none)
    segment: int = 0
    roi: str = ""
    #: Analyze: carry the result objects (SEG + TID 1500 SR) in the completed event
    return_dicom: bool = False
    seg_threshold: float = 0.0
    series_uid: str = ""
    #: A study on a configured DICOMweb endpoint (spinerad.pacs.dicomweb.Reference) instead of uploaded bytes.
    reference: object = None
    #: With a reference (Analyze): STOW-RS the SR (+ SEG) back to the reference's endpoint.
    store_results: bool = False


# --- what comes out -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """The study was admitted; ``studies_ahead`` were held before it."""

    request_id: str
    studies_ahead: int


@dataclass(frozen=True)
class StageDone:
    """A stage finished: "decoded", or "features" (with the feature vector)."""

    request_id: str
    stage: str
    elapsed_ms: float
    features: dict = None


@dataclass(frozen=True)
class Predicted:
    """One task's prediction, as the model registry returned it."""

    request_id: str
    prediction: dict


@dataclass(frozen=True)
class Completed:
    """The study is done; per-stage wall times in ms (with ``total``)."""

    request_id: str
    stage_ms: dict
    #: with ``return_dicom``: ``(name, sop_class_uid, sop_instance_uid, bytes)`` of each result object
    dicom_objects: tuple = ()
    #: SOP Instance UIDs of the result objects stored back (reference mode with store_results).
    stored: tuple = ()


@dataclass(frozen=True)
class Failed:
    """The study failed with ``error``; the stream goes on."""

    request_id: str
    error: Exception


@dataclass(frozen=True)
class FeaturesResult:
    """ExtractFeatures' answer."""

    request_id: str
    features: dict
    stage_ms: dict
    settings_hash: str


class _Study:
    """An admitted study: its request, resolved parameters, upload buffers and cancel token."""

    def __init__(self, request, params, tasks, label, admission, metrics, deadline, upload_timeout_s):
        self.request = request
        self.request_id = request.request_id
        self.params = params
        self.settings_hash = params.settings_hash()
        self.tasks = tasks
        self.label = label
        self.upload = StudyUpload(request.image.total_bytes, request.mask.total_bytes)
        self.token = CancelToken(deadline)
        self.started = time.perf_counter()
        self.stored = ()
        self._admission = admission
        self._metrics = metrics
        self._released = False
        self.submitted = False
        self.predictions = []
        self.dicom_objects = ()
        self.recorded = False
        #: Monotonic time by which the upload must be complete.
        self.upload_deadline = time.monotonic() + upload_timeout_s

    def release(self):
        """Give the admission place back and drop the buffers (idempotent)."""
        if not self._released:
            self._released = True
            self.upload.release()
            self._admission.release()
            self._metrics.studies_held.dec()


_DONE = object()
_END = object()  # the client half-closed its stream
_DRAINED = object()  # the server is draining and the stream is between studies
#: Seconds a stream between studies may stay silent once the server drains (then it ends UNAVAILABLE).
_DRAIN_IDLE_S = 1.0


async def _went_away(call_cancelled):
    """Whether the call was cancelled; a dropped connection reads as an end of stream a moment before."""
    if call_cancelled is None:
        return False
    for _ in range(3):
        if call_cancelled():
            return True
        await asyncio.sleep(0.01)
    return call_cancelled()


class _Incoming:
    """The next message of a stream, within the upload timeouts and not beyond the server's shutdown.

    While a study is uploading, the wait for its next message is bounded by the idle timeout and by what is
    left of the study's upload time: a stalled or trickling upload ends the call (:class:`UploadTimeout`)
    and frees its admission place. Between studies a stream may idle as long as the client likes, but not
    past a drain: it then ends at once instead of holding the shutdown for the whole grace period.
    """

    def __init__(self, messages, engine):
        self._messages = messages.__aiter__()
        self._engine = engine
        self._drain_wait = None

    async def next(self, study):
        """The next message, :data:`_END` at the end of the stream, :data:`_DRAINED` when idle at shutdown."""
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
            return _END

    async def _next_between_studies(self):
        engine = self._engine
        reading = asyncio.ensure_future(self._anext())
        try:
            if not engine.draining:
                if self._drain_wait is None:
                    self._drain_wait = asyncio.ensure_future(engine._drain_event.wait())
                await asyncio.wait((reading, self._drain_wait), return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():  # draining: a message already on its way still gets its answer
                await asyncio.wait((reading,), timeout=_DRAIN_IDLE_S)
        except asyncio.CancelledError:
            reading.cancel()
            raise
        if reading.done():
            return reading.result()
        reading.cancel()
        return _DRAINED

    def close(self):
        """Stop waiting for the drain signal."""
        if self._drain_wait is not None:
            self._drain_wait.cancel()


class _Abort:
    def __init__(self, error):
        self.error = error


class RecentResults:
    """The answers of recently completed Analyze studies, by request id, for a study sent again.

    A client re-sends a study when its connection failed before ``completed`` arrived (the replica may
    have finished it). The same request id with the same header (encodings, sizes, tasks, profile,
    clinical values, label) within ``ttl_s`` gets the stored events again instead of a second computation:
    one result per request id, whatever the retries. Bounded: at most ``size`` studies (a few kB each).
    """

    def __init__(self, size=1024, ttl_s=600.0):
        self.size = size
        self.ttl_s = ttl_s
        self._items = {}  # request id -> (expiry, request, events); insertion order = age

    def put(self, request, events):
        """Keep the events of a completed study."""
        self._items.pop(request.request_id, None)
        self._items[request.request_id] = (time.monotonic() + self.ttl_s, request, tuple(events))
        while len(self._items) > self.size:
            del self._items[next(iter(self._items))]

    def get(self, request):
        """The stored events of this same study, or None."""
        item = self._items.get(request.request_id)
        if item is None:
            return None
        expiry, stored, events = item
        if expiry < time.monotonic():
            del self._items[request.request_id]
            return None
        return events if stored == request else None


class Engine:
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

        from spinerad.sample import make_sample_study

        image, mask = make_sample_study(seed=0)
        mask_types = (
            sitk.sitkUInt8,
            sitk.sitkInt8,
            sitk.sitkUInt16,
            sitk.sitkInt16,
            sitk.sitkUInt32,
            sitk.sitkInt32,
            sitk.sitkInt64,
            sitk.sitkUInt64,
        )
        image_types = (sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkFloat32, sitk.sitkFloat64)
        for name, params in self.profiles.items():
            for pixel_type in image_types:
                extract(sitk.Cast(image, pixel_type), mask, params=params)
            for pixel_type in mask_types:
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

    def _require_ready(self):
        if self.draining:
            raise NotReady("the server is shutting down; send the study to another replica")
        if not self.ready:
            raise NotReady("the server is warming up (loading models, compiling kernels); retry shortly")

    # --- admission ------------------------------------------------------------------------------------------

    def open(self, request, deadline=None, predictions=True):
        """Check a study's header and admit it; raise a :class:`~spinerad.SpineradError` to refuse it."""
        try:
            self._require_ready()
        except NotReady:
            self.metrics.rejected.labels("not_ready").inc()
            raise
        try:
            params, tasks, label = self._check_request(request, predictions)
        except InvalidInput:
            self.metrics.rejected.labels("invalid_header").inc()
            raise
        try:
            ahead = self.admission.acquire()
        except SpineradError:
            self.metrics.rejected.labels("queue_full").inc()
            raise
        self.metrics.studies_held.inc()
        study = _Study(
            request, params, tasks, label, self.admission, self.metrics, deadline,
            self.limits.upload_timeout_s,
        )
        return study, ahead

    def _check_request(self, request, predictions):
        rid = request.request_id
        if not rid or len(rid) > _MAX_REQUEST_ID or not all(32 <= ord(c) < 127 for c in rid):
            raise InvalidInput(f"request_id must be 1 to {_MAX_REQUEST_ID} printable ASCII characters")
        if request.reference is not None:
            _check_reference(request, self.dicomweb, predictions)
        else:
            if request.store_results:
                raise InvalidInput("store_results needs a DICOMweb reference (results go back to its endpoint)")
            check_spec(request.image, "image", self.limits)
            check_spec(request.mask, "mask", self.limits)
        total = request.image.total_bytes + request.mask.total_bytes
        if total > self.limits.max_upload_bytes:
            raise LimitExceeded(
                f"the study declares {total} bytes (image + mask); this server accepts at most "
                f"{self.limits.max_upload_bytes} bytes per study"
            )
        profile = request.profile or MODEL_PROFILE
        params = self.profiles.get(profile)
        if params is None:
            raise InvalidInput(
                f"unknown extraction profile {profile[:64]!r}; available: {', '.join(sorted(self.profiles))}"
            )
        tasks = ()
        if predictions:
            unknown = [t for t in request.tasks if t not in self.registry.tasks]
            if unknown:
                raise UnknownTask(
                    f"unknown task {unknown[0][:64]!r}; known tasks: {', '.join(self.registry.tasks)}"
                )
            tasks = tuple(dict.fromkeys(request.tasks)) or tuple(self.registry.tasks)
            if params.settings_hash() != self.profiles[MODEL_PROFILE].settings_hash():
                raise ModelMismatch(
                    f"extraction profile {profile!r} differs from the parameters the models were trained on; "
                    f"use {MODEL_PROFILE!r} to get predictions"
                )
        _check_clinical(request.clinical)
        if predictions:
            from spinerad.models.applicability import normalise_modality

            normalise_modality(request.modality, "modality")
        if request.return_dicom and request.reference is None and not isinstance(request.image.encoding, DicomEncoding):
            raise InvalidInput("return_dicom needs the image as a DICOM series: the result objects reference its instances")
        if not 0 <= request.seg_threshold <= 1:
            raise InvalidInput(f"seg_threshold {request.seg_threshold} must be in (0, 1] (0: the default 0.5)")
        if request.label < 0:
            raise InvalidInput(f"label {request.label} must be positive (0 = the profile's label)")
        return params, tasks, request.label or None

    # --- compute --------------------------------------------------------------------------------------------

    def _compute(self, study, emit, predictions):
        """Worker thread: decode, extract, predict; ``emit`` receives events as they happen."""
        self.metrics.queue_depth.dec()
        self.metrics.workers_busy.inc()
        try:
            token = study.token
            timer = CancellableTimer(token)
            rid = study.request_id
            started = time.perf_counter()
            if study.request.reference is not None:
                return self._compute_reference(study, emit, predictions, timer, started)
            label = study.label if study.label is not None else study.params.settings.label
            with timer.stage("decode"):
                loaded = decode_study(
                    study.request,
                    study.upload.parts[IMAGE].payload(),
                    study.upload.parts[MASK].payload(),
                    label,
                    self.limits,
                    self.scratch_dir,
                )
                image, mask = loaded.image, loaded.mask
            study.upload.release()  # decoding copied the voxels; the upload buffers can go
            decoded = time.perf_counter()
            if emit:
                emit(StageDone(rid, "decoded", (decoded - started) * 1e3))
            features = extract(image, mask, params=study.params, label=study.label, timer=timer)
            if emit:
                emit(StageDone(rid, "features", (time.perf_counter() - decoded) * 1e3, features))
            if predictions and study.tasks:
                modality, extra = self._study_context(study, image)
            for task in study.tasks if predictions else ():
                with timer.stage(f"inference:{task}"):
                    (prediction,) = self.registry.predict(
                        features,
                        tasks=[task],
                        clinical=dict(study.request.clinical) or None,
                        settings_hash=study.settings_hash,
                        modality=modality,
                        show_label_outside_domain=study.request.show_label_outside_domain,
                        extra_warnings=extra,
                        report_unused_clinical=False,
                    )
                emit(Predicted(rid, prediction))
                study.predictions.append(prediction)
            if predictions and study.request.return_dicom:
                with timer.stage("dicom_results"):
                    study.dicom_objects = self._result_objects(loaded, features, study.predictions, label)
            stage_ms = timer.as_dict()
            self.metrics.observe_stages(stage_ms)
            return features, stage_ms
        finally:
            self.metrics.workers_busy.dec()

    def _study_context(self, study, image):
        """The study's modality and the warnings about the whole study every prediction carries.

        Clinical values unused by *every* requested model are reported here, once per study, since each
        task is scored on its own.
        """
        from spinerad.models.applicability import study_modality
        from spinerad.models.registry import unused_clinical_warning

        modality, _source, extra = study_modality(image, study.request.modality or None)
        clinical = dict(study.request.clinical)
        unused = self.registry.unused_clinical(clinical, list(study.tasks)) if clinical else []
        if unused:
            extra.append(unused_clinical_warning(unused))
        return modality, extra

    def _compute_reference(self, study, emit, predictions, timer, started):
        """Worker thread, reference mode: fetch (WADO-RS), load, extract, predict, store (STOW-RS)."""
        import tempfile

        from spinerad.pacs.reference import as_objects, build_results, load_reference, store_datasets

        rid, reference = study.request_id, study.request.reference
        with tempfile.TemporaryDirectory(prefix="spinerad-ref-", dir=self.scratch_dir) as folder:
            loaded, job = load_reference(
                self.dicomweb, reference, folder, segment=study.request.segment or None,
                roi=study.request.roi or None, check_size=self._check_voxels, timer=timer,
            )  # fmt: skip
        decoded = time.perf_counter()
        if emit:
            emit(StageDone(rid, "decoded", (decoded - started) * 1e3))
        features = extract(loaded.image, loaded.mask, params=study.params, label=1, timer=timer)
        if emit:
            emit(StageDone(rid, "features", (time.perf_counter() - decoded) * 1e3, features))
        found = []
        if predictions and study.tasks:
            modality, extra = self._study_context(study, loaded.image)
        for task in study.tasks if predictions else ():
            with timer.stage(f"inference:{task}"):
                (prediction,) = self.registry.predict(
                    features, tasks=[task], clinical=dict(study.request.clinical) or None,
                    settings_hash=study.settings_hash, modality=modality,
                    show_label_outside_domain=study.request.show_label_outside_domain,
                    extra_warnings=extra, report_unused_clinical=False,
                )  # fmt: skip
            found.append(prediction)
            emit(Predicted(rid, prediction))
        if predictions and (study.request.store_results or study.request.return_dicom):
            with timer.stage("dicom_results"):
                datasets = build_results(loaded, job, features, found, self.registry)
            if study.request.return_dicom:
                study.dicom_objects = as_objects(datasets)
            if study.request.store_results:
                with timer.stage("store"):
                    study.stored = tuple(store_datasets(self.dicomweb.get(reference.endpoint), datasets))
        stage_ms = timer.as_dict()
        self.metrics.observe_stages(stage_ms)
        return features, stage_ms

    def _check_voxels(self, size):
        voxels = math.prod(size)
        if voxels > self.limits.max_voxels:
            raise LimitExceeded(
                f"the referenced image has {voxels} voxels; this server accepts at most {self.limits.max_voxels}"
            )

    def _result_objects(self, loaded, features, predictions, label):
        """The SEG + SR of a study as (name, SOP class, SOP instance, bytes), via a scratch folder."""
        from spinerad.dicom.results import write_results

        cards = {p["task"]: self.registry.card(p["task"]) for p in predictions}
        with tempfile.TemporaryDirectory(prefix="spinerad-", dir=self.scratch_dir) as tmp:
            objects = []
            for path in write_results(loaded, features, tmp, predictions, label, cards):
                header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
                objects.append((path.name, str(header.SOPClassUID), str(header.SOPInstanceUID), path.read_bytes()))
        return tuple(objects)

    async def _run(self, study, emit, predictions):
        """Queue a complete study on the pool and wait for it; the admission place is freed when it ends."""
        loop = asyncio.get_running_loop()
        emit_threadsafe = None
        if emit is not None:

            def emit_threadsafe(event):
                loop.call_soon_threadsafe(emit, event)

        self.metrics.queue_depth.inc()
        study.submitted = True
        future = self.pool.submit(self._compute, study, emit_threadsafe, predictions)

        def finished(done):
            if done.cancelled():
                self.metrics.queue_depth.dec()
            study.release()
            if self.admission.held == 0:  # idle: give what the studies freed back to the kernel
                started = time.perf_counter()
                release_memory()
                self.metrics.trim_seconds.observe(time.perf_counter() - started)

        future.add_done_callback(finished)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            study.token.cancel()
            future.cancel()
            raise

    def _record_study(self, rpc, study_or_started, error=None):
        """Observe a study's duration once, by outcome (aborted studies included)."""
        if isinstance(study_or_started, _Study):
            if study_or_started.recorded:
                return
            study_or_started.recorded = True
            started = study_or_started.started
        else:
            started = study_or_started
        code = "OK" if error is None else status.code_name(error)
        self.metrics.study_seconds.labels(rpc, code).observe(time.perf_counter() - started)

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
        incoming = _Incoming(messages, self)

        async def read():
            while True:
                message = await incoming.next(state["open"])
                if message is _DRAINED:  # idle at shutdown: end the call once its studies are done
                    state["drained"] = True
                    return
                if message is _END:
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
                if await _went_away(call_cancelled):
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
                emit(_Abort(exc))
                return
            emit(_DONE)

        pumping = asyncio.create_task(pump())
        ended_by = None
        try:
            while True:
                event = await events.get()
                if event is _DONE:
                    break
                if isinstance(event, _Abort):
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
        incoming = _Incoming(messages, self)
        try:
            while True:
                uploading = study if study is not None and not study.upload.complete else None
                message = await incoming.next(uploading)
                if message is _END:
                    break
                if message is _DRAINED:
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
                if await _went_away(call_cancelled):
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

    # --- FeatureMaps --------------------------------------------------------------------------------------

    async def feature_maps(self, messages, deadline=None):
        """``(request_id, {feature name: SimpleITK.Image})`` of the one study in ``messages``."""
        study = None
        started = time.perf_counter()
        try:
            async for message in messages:
                if isinstance(message, StudyRequest):
                    if study is not None:
                        raise ProtocolError("FeatureMaps takes one study, but a second header arrived")
                    study, _ahead = self.open(message, deadline, predictions=False)
                    continue
                if study is None:
                    raise ProtocolError("chunk before any study header; send a StudyHeader first")
                study.upload.add(message)
            if study is None:
                raise ProtocolError("the stream ended without a study header")
            if not study.upload.complete:
                raise ProtocolError(
                    "the stream ended before the study's image and mask were complete "
                    f"({study.upload.progress()})"
                )
            self.metrics.queue_depth.inc()
            study.submitted = True
            future = self.pool.submit(self._compute_maps, study)

            def finished(done, study=study):
                if done.cancelled():
                    self.metrics.queue_depth.dec()
                study.release()

            future.add_done_callback(finished)
            try:
                maps = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                study.token.cancel()
                future.cancel()
                raise
        except Exception as exc:
            self._record_study("FeatureMaps", started, exc)
            raise
        finally:
            if study is not None and not study.submitted:
                study.release()
        self._record_study("FeatureMaps", started)
        return study.request_id, maps

    def _compute_maps(self, study):
        """Worker thread: decode the study and compute its feature maps."""
        from spinerad.voxel import feature_maps

        self.metrics.queue_depth.dec()
        self.metrics.workers_busy.inc()
        try:
            parts, limits, scratch = study.upload.parts, self.limits, self.scratch_dir
            image = decode_volume(study.request.image, parts[IMAGE].payload(), "image", limits, scratch)
            mask = decode_volume(study.request.mask, parts[MASK].payload(), "mask", limits, scratch)
            study.upload.release()
            return feature_maps(image, mask, params=study.params, label=study.label)
        finally:
            self.metrics.workers_busy.dec()


def _part_label(part):
    return part if part in (IMAGE, MASK) else "unknown"


def _check_reference(request, endpoints, predictions):
    """A reference replaces the uploaded volumes; its endpoint must be one of the server's own."""
    if request.image.encoding is not None or request.mask.encoding is not None:
        raise InvalidInput("a study with a DICOMweb reference carries no image or mask: leave them unset")
    if request.store_results and not predictions:
        raise InvalidInput("store_results is for Analyze (the SR reports the predictions)")
    request.reference.check()
    endpoints.get(request.reference.endpoint)


def _check_clinical(clinical):
    if len(clinical) > _MAX_CLINICAL:
        raise InvalidInput(f"{len(clinical)} clinical variables; at most {_MAX_CLINICAL}")
    for name, value in clinical.items():
        if not name or len(name) > 64:
            raise InvalidInput("clinical variable names must be 1 to 64 characters")
        if value is None:
            raise InvalidInput(f"clinical variable {name!r} has no value (set number, text or flag)")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"clinical variable {name!r} is NaN or infinite")
        if isinstance(value, str) and len(value) > 256:
            raise InvalidInput(f"clinical variable {name!r} is longer than 256 characters")


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
