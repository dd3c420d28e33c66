"""Running an admitted study on a worker: decode -> features -> one prediction per task -> result objects.

:class:`StudyExecution` is the part of :class:`~spinerad.service.engine.Engine` that queues a complete study
on the worker pool (:meth:`StudyExecution._run`), computes it on a worker thread (uploaded volumes, or a
DICOMweb reference in reference mode), hands each event to the caller as soon as it exists, and records
its duration once, by outcome.
"""

import asyncio
import math
import tempfile
import time

import pydicom

from spinerad.pipeline import extract

from . import status
from .admission import AdmittedStudy
from .decode import decode_study
from .errors import LimitExceeded
from .events import Predicted, StageDone
from .memory import release_memory
from .pool import CancellableTimer
from .upload import IMAGE, MASK


class StudyExecution:
    """Engine part: the worker side of a study.

    Uses the engine's ``pool``, ``metrics``, ``registry``, ``limits``, ``scratch_dir``, ``dicomweb`` and
    ``admission``.
    """

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
                header = pydicom.dcmread(
                    path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
                )
                objects.append(
                    (path.name, str(header.SOPClassUID), str(header.SOPInstanceUID), path.read_bytes())
                )
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
        if isinstance(study_or_started, AdmittedStudy):
            if study_or_started.recorded:
                return
            study_or_started.recorded = True
            started = study_or_started.started
        else:
            started = study_or_started
        code = "OK" if error is None else status.code_name(error)
        self.metrics.study_seconds.labels(rpc, code).observe(time.perf_counter() - started)
