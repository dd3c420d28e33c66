"""Admitting a study: check its header, take an admission place, or refuse it at once.

The header checks: readiness, request id, encodings against the limits, profile, tasks, clinical values.

:class:`AdmittedStudy` is what an admitted study carries from its header to its last event (request,
resolved parameters, upload buffers, cancel token); :class:`StudyAdmission` is the part of
:class:`~spinerad.service.engine.Engine` that admits one.
"""

import math
import time

from spinerad.errors import InvalidInput, SpineradError

from .decode import DicomEncoding, check_spec
from .errors import LimitExceeded, ModelMismatch, NotReady, UnknownTask
from .pool import CancelToken
from .upload import StudyUpload

#: The profile the models were trained on; the default of every request.
MODEL_PROFILE = "model"

_MAX_REQUEST_ID = 128
_MAX_CLINICAL = 64


class AdmittedStudy:
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


class StudyAdmission:
    """Engine part: header checks and admission.

    Uses the engine's ``metrics``, ``limits``, ``profiles``, ``registry``, ``dicomweb``, ``admission``,
    ``ready`` and ``draining``.
    """

    def _require_ready(self):
        if self.draining:
            raise NotReady("the server is shutting down; send the study to another replica")
        if not self.ready:
            raise NotReady("the server is warming up (loading models, compiling kernels); retry shortly")

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
        study = AdmittedStudy(
            request,
            params,
            tasks,
            label,
            self.admission,
            self.metrics,
            deadline,
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
                raise InvalidInput(
                    "store_results needs a DICOMweb reference (results go back to its endpoint)"
                )
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
        if (
            request.return_dicom
            and request.reference is None
            and not isinstance(request.image.encoding, DicomEncoding)
        ):
            raise InvalidInput(
                "return_dicom needs the image as a DICOM series: the result objects reference its instances"
            )
        if not 0 <= request.seg_threshold <= 1:
            raise InvalidInput(
                f"seg_threshold {request.seg_threshold} must be in (0, 1] (0: the default 0.5)"
            )
        if request.label < 0:
            raise InvalidInput(f"label {request.label} must be positive (0 = the profile's label)")
        return params, tasks, request.label or None


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
