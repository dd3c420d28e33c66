"""What goes into the engine and what comes out: a study's header and the events of its progress.

Plain dataclasses, no protobuf: :mod:`spinerad.service.convert` maps them to and from the messages.
"""

from dataclasses import dataclass, field

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
