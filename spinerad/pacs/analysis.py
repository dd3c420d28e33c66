"""One study's DICOM instances in, result objects (TID 1500 SR + SEG) out: the analysis the PACS paths share.

Used by the DICOM node (instances pushed by PACS) and by the gRPC reference mode (instances fetched with
WADO-RS). The rule for what is analysed: every SEG and RTSTRUCT of the study, on the image series it
references, one analysis per ROI (SEG segment / RTSTRUCT ROI). A study without a SEG/RTSTRUCT, or whose
SEG/RTSTRUCT references a series the study does not hold, fails with a one-line reason.

Result UIDs are derived from the inputs (the SOP Instance UIDs of the image series and the ROI object, the
ROI number, spinerad's version and the models): analysing the same study again, e.g. after a crash, gives
the same SR and SEG UIDs, so PACS files them once (nothing is reported twice); a study with other inputs
gets other UIDs.
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import InvalidInput, SpineradError

log = logging.getLogger("spinerad.pacs")

SEG_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SR_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.88.34",
}
#: Our own result objects are recognised by this Manufacturer and never analysed as inputs.
MANUFACTURER = "spinerad"


class StudyFailed(InvalidInput):
    """The study cannot be analysed (no SEG/RTSTRUCT, a reference to a missing series, ...)."""


@dataclass
class RoiJob:
    """One ROI to analyse: the image series' instance files and the SEG/RTSTRUCT holding the ROI."""

    image_paths: list
    roi_path: Path
    roi_kind: str  # "seg" or "rtstruct"
    number: int
    name: str
    #: SOP Instance UIDs of the image series and the ROI object (what result UIDs are derived from)
    input_uids: tuple = ()
    #: ``{path: header}`` of the image instances as :func:`plan` read them (the series reader reuses them)
    headers: dict = field(default_factory=dict, repr=False)


@dataclass
class RoiResult:
    """The outcome of one ROI: features and predictions (as the JSON path gives them) and its objects."""

    job: RoiJob
    features: dict
    predictions: list
    datasets: list = field(default_factory=list)
    stage_ms: dict = field(default_factory=dict)


@dataclass
class StudyResult:
    """All ROIs of a study; ``datasets`` are the result objects to store (SR per ROI, SEG when new)."""

    rois: list
    datasets: list

    @property
    def stage_ms(self):
        """Summed stage times of the study's ROIs."""
        total = {}
        for roi in self.rois:
            for stage, ms in roi.stage_ms.items():
                total[stage] = total.get(stage, 0.0) + ms
        return total


def read_headers(paths):
    """``[(path, dataset without pixels)]`` of DICOM files; unreadable files are a :class:`StudyFailed`."""
    import pydicom

    out = []
    for path in paths:
        try:
            out.append((Path(path), pydicom.dcmread(str(path), stop_before_pixels=True)))
        except Exception:  # noqa: BLE001 - pydicom raises many kinds on a broken file
            raise StudyFailed(f"instance {Path(path).name} is not a readable DICOM file") from None
    return out


def _referenced_series(ds):
    if str(ds.SOPClassUID) in SEG_SOP_CLASSES:
        return {str(item.SeriesInstanceUID) for item in ds.get("ReferencedSeriesSequence", [])}
    return {
        str(series.SeriesInstanceUID)
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    }


def _rois(ds):
    if str(ds.SOPClassUID) in SEG_SOP_CLASSES:
        return [(int(s.SegmentNumber), str(s.get("SegmentLabel", ""))) for s in ds.get("SegmentSequence", [])]
    with_contours = {int(item.ReferencedROINumber) for item in ds.get("ROIContourSequence", [])}
    return [
        (int(s.ROINumber), str(s.ROIName))
        for s in ds.get("StructureSetROISequence", [])
        if int(s.ROINumber) in with_contours
    ]


def plan(paths):
    """The ROI jobs of a study's instance files (see the module docstring for the rule)."""
    headers = read_headers(paths)
    parsed = dict(headers)
    series = {}
    series_uids = {}
    roi_objects = []
    for path, ds in headers:
        sop_class = str(ds.SOPClassUID)
        if sop_class in SEG_SOP_CLASSES or sop_class == RTSTRUCT_SOP_CLASS:
            if str(ds.get("Manufacturer", "")) == MANUFACTURER and sop_class in SEG_SOP_CLASSES:
                continue  # a SEG spinerad wrote for an earlier result
            roi_objects.append((path, ds))
        elif sop_class in SR_SOP_CLASSES:
            continue
        elif "Rows" in ds:
            series.setdefault(str(ds.SeriesInstanceUID), []).append(path)
            series_uids.setdefault(str(ds.SeriesInstanceUID), []).append(str(ds.SOPInstanceUID))
    if not roi_objects:
        raise StudyFailed(
            f"the study holds no SEG or RTSTRUCT to say which ROI to analyse ({len(series)} image series, "
            f"{sum(len(v) for v in series.values())} instances)"
        )
    jobs = []
    for path, ds in roi_objects:
        kind = "seg" if str(ds.SOPClassUID) in SEG_SOP_CLASSES else "rtstruct"
        what = "SEG" if kind == "seg" else "RTSTRUCT"
        referenced = _referenced_series(ds) & set(series)
        if not referenced:
            wanted = sorted(_referenced_series(ds))
            raise StudyFailed(
                f"the {what} references series {', '.join(wanted) or '(none)'}, which the study does not hold"
                f" (image series received: {len(series)})"
            )
        rois = _rois(ds)
        if not rois:
            raise StudyFailed(f"the {what} holds no ROI")
        image_uid = sorted(referenced)[0]
        inputs = tuple(sorted([*series_uids[image_uid], str(ds.SOPInstanceUID)]))
        for number, name in rois:
            image_paths = sorted(series[image_uid])
            headers = {p: parsed[p] for p in image_paths}
            jobs.append(RoiJob(image_paths, path, kind, number, name, inputs, headers))
    return jobs


def result_uid(job, models_key, what):
    """A UID derived from the inputs of ``job`` (idempotent across re-analyses) for result ``what``."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[*job.input_uids, str(job.number), __version__, models_key, what])


def models_key(registry):
    """What identifies the models' outputs: task ids and model versions, and the extraction settings."""
    if registry is None:
        return "no-models"
    parts = [registry.extraction_params.settings_hash()]
    for task in registry.tasks:
        card = registry.card(task) or {}
        parts.append(f"{task}:{card.get('model_id', '')}@{card.get('model_version', '')}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _set_uids(ds, sop_uid, series_uid):
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    if hasattr(ds, "file_meta") and ds.file_meta is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid


def analyse_roi(job, registry, tasks=None, clinical=None, metrics=None, timer=None):
    """Extract the features of one ROI, score the models, build its SR (+ SEG); a :class:`RoiResult`."""
    from ..dicom.series import read_series
    from ..dicom.study import load_study
    from ..pipeline import StageTimer, extract

    timer = timer or StageTimer()
    with timer.stage("decode"):
        source = read_series(job.image_paths, "image", parsed=job.headers)
        study = load_study(
            source,
            job.roi_path,
            segment=job.number if job.roi_kind == "seg" else None,
            roi=job.name if job.roi_kind == "rtstruct" else None,
        )
    params = registry.extraction_params
    features = extract(study.image, study.mask, params=params, label=1, timer=timer)
    predictions = []
    wanted = list(tasks) if tasks else list(registry.tasks)
    for task in wanted:
        with timer.stage(f"inference:{task}"):
            (prediction,) = registry.predict(
                features, tasks=[task], clinical=clinical or None, settings_hash=params.settings_hash()
            )
        predictions.append(prediction)
    with timer.stage("results"):
        datasets = build_results(study, job, features, predictions, registry)
    return RoiResult(job, features, predictions, datasets, timer.as_dict())


def build_results(study, job, features, predictions, registry):
    """The SR (and a SEG when the mask was not one) of one ROI, with UIDs derived from the inputs."""
    from pydicom.uid import generate_uid

    from ..dicom import results

    key = models_key(registry)
    cards = {task: registry.card(task) for task in registry.tasks}
    out = []
    if study.roi is not None and study.roi.kind == "seg":
        seg, segment_number = study.roi.dataset, study.roi.number
    else:
        seg, segment_number = results.build_seg(study, 1), 1
        _set_uids(
            seg,
            result_uid(job, key, "seg"),
            generate_uid(entropy_srcs=[result_uid(job, key, "seg"), "series"]),
        )
        out.append(seg)
    sr = results.build_sr(study, seg, segment_number, features, predictions, cards)
    sr_uid = result_uid(job, key, "sr")
    _set_uids(sr, sr_uid, generate_uid(entropy_srcs=[sr_uid, "series"]))
    out.append(sr)
    return out


def analyse_study(paths, registry, tasks=None, clinical=None):
    """All ROI jobs of a study's instance files, analysed; a :class:`StudyResult`."""
    jobs = plan(paths)
    rois = []
    for job in jobs:
        started = time.perf_counter()
        rois.append(analyse_roi(job, registry, tasks, clinical))
        log.info(
            "ROI %d of %s analysed in %.0f ms",
            job.number,
            job.roi_kind.upper(),
            (time.perf_counter() - started) * 1e3,
        )
    return StudyResult(rois, [ds for roi in rois for ds in roi.datasets])


def failure_report(paths, reason):
    """A Comprehensive 3D SR saying the analysis failed and why (so the radiologist is not left waiting).

    Its UID is derived from the study's inputs and the reason: reprocessing the same failed study gives the
    same SR.
    """
    import highdicom as hd
    from pydicom.sr.coding import Code
    from pydicom.uid import generate_uid

    from ..dicom.results import device_observer, report_sr

    headers = [ds for _path, ds in read_headers(paths) if str(ds.get("Manufacturer", "")) != MANUFACTURER]
    evidence = [ds for ds in headers if "Rows" in ds] or headers
    if not evidence:
        raise SpineradError("no instance to report a failure on")
    inputs = sorted(str(ds.SOPInstanceUID) for ds in headers)
    sop_uid = generate_uid(entropy_srcs=[*inputs, __version__, "failure", reason])
    observer = device_observer(generate_uid(entropy_srcs=["spinerad device"]))
    # TID 1500 needs one measurement group: an empty TID 1501 group whose comment is the reason.
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=[sop_uid, "tracking"]), identifier="spinerad analysis"
        ),
    )
    group[0].ContentSequence.append(
        hd.sr.TextContentItem(
            name=Code("121106", "DCM", "Comment"),
            value=f"spinerad could not analyse this study: {reason}"[:1024],
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        )
    )
    return report_sr(
        group,
        str(evidence[0].get("Modality", "")),
        observer,
        evidence,
        series_instance_uid=generate_uid(entropy_srcs=[sop_uid, "series"]),
        series_number=9099,
        sop_instance_uid=sop_uid,
        series_description="spinerad analysis failed",
    )
