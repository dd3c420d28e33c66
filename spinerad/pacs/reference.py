"""The gRPC reference mode's domain steps: fetch a referenced study, pick its ROI, store the results back.

Plain Python (no gRPC): the service engine calls :func:`load_reference` instead of decoding uploaded bytes,
and :func:`store_results` after the predictions when the request asked for it.
"""

from ..errors import InvalidInput
from .analysis import build_results, plan
from .dicomweb import fetch_reference, store_datasets

__all__ = ["as_objects", "build_results", "load_reference", "store_datasets"]


def load_reference(endpoints, reference, folder, segment=None, roi=None, check_size=None, timer=None):
    """Fetch ``reference`` into ``folder`` and load its study; returns ``(study, job)``.

    A SEG/RTSTRUCT holding several ROIs needs ``segment`` (SEG segment number) or ``roi`` (RTSTRUCT ROI name
    or SEG segment label).
    """
    from ..dicom.series import read_series
    from ..dicom.study import load_study
    from ..pipeline import StageTimer

    timer = timer or StageTimer()
    endpoint = endpoints.get(reference.endpoint)
    with timer.stage("fetch"):
        paths = fetch_reference(endpoint, reference, folder)
    with timer.stage("decode"):
        return _load(paths, segment, roi, check_size, read_series, load_study)


def _load(paths, segment, roi, check_size, read_series, load_study):
    jobs = plan(paths)
    if segment or roi:
        chosen = [
            job for job in jobs if (not segment or job.number == segment) and (not roi or job.name == roi)
        ]
        if not chosen:
            raise InvalidInput(
                f"the referenced ROI object has no segment/ROI {segment or roi!r}; it holds: "
                + ", ".join(f"{job.number} {job.name!r}" for job in jobs)
            )
        jobs = chosen
    if len(jobs) > 1:
        raise InvalidInput(
            f"the reference names {len(jobs)} ROIs; choose one with segment (number) or roi (name): "
            + ", ".join(f"{job.number} {job.name!r}" for job in jobs)
        )
    job = jobs[0]
    source = read_series(job.image_paths, "image", check_size=check_size, parsed=job.headers)
    study = load_study(
        source, job.roi_path,
        segment=job.number if job.roi_kind == "seg" else None,
        roi=job.name if job.roi_kind == "rtstruct" else None,
    )  # fmt: skip
    return study, job


def as_objects(datasets):
    """Result datasets as the completed event's ``(name, SOP class, SOP instance, Part 10 bytes)``."""
    from io import BytesIO

    objects = []
    for ds in datasets:
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        name = "sr.dcm" if str(ds.Modality) == "SR" else "seg.dcm"
        objects.append((name, str(ds.SOPClassUID), str(ds.SOPInstanceUID), buffer.getvalue()))
    return tuple(objects)
