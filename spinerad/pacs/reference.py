"""The gRPC reference mode's domain steps: fetch a referenced study, pick its ROI, store the results back.

Plain Python (no gRPC): the service engine calls :func:`load_reference` instead of decoding uploaded bytes,
and :func:`store_results` after the predictions when the request asked for it.
"""

from ..errors import InvalidInput
from .analysis import plan, build_results
from .dicomweb import fetch_reference, store_datasets


def load_reference(endpoints, reference, folder, segment=None, check_size=None, timer=None):
    """Fetch ``reference`` into ``folder`` and load its study; returns ``(study, job)``.

    A SEG/RTSTRUCT holding several ROIs needs ``segment`` (the SEG segment / RTSTRUCT ROI number).
    """
    from ..dicom.series import read_series
    from ..dicom.study import load_study
    from ..pipeline import StageTimer

    timer = timer or StageTimer()
    endpoint = endpoints.get(reference.endpoint)
    with timer.stage("fetch"):
        paths = fetch_reference(endpoint, reference, folder)
    with timer.stage("decode"):
        return _load(paths, segment, check_size, read_series, load_study)


def _load(paths, segment, check_size, read_series, load_study):
    jobs = plan(paths)
    if segment:
        chosen = [job for job in jobs if job.number == segment]
        if not chosen:
            raise InvalidInput(
                f"the referenced ROI object has no segment/ROI {segment}; it holds: "
                + ", ".join(f"{job.number} {job.name!r}" for job in jobs)
            )
        jobs = chosen
    if len(jobs) > 1:
        raise InvalidInput(
            f"the reference names {len(jobs)} ROIs; choose one with the header's label (segment/ROI number): "
            + ", ".join(f"{job.number} {job.name!r}" for job in jobs)
        )
    job = jobs[0]
    source = read_series(job.image_paths, "image", check_size=check_size)
    study = load_study(
        source, job.roi_path,
        segment=job.number if job.roi_kind == "seg" else None,
        roi=job.name if job.roi_kind == "rtstruct" else None,
    )  # fmt: skip
    return study, job


def store_results(endpoints, reference, study, job, features, predictions, registry):
    """Build the SR (+ SEG) of the analysed ROI and STOW-RS them to the reference's endpoint; their UIDs."""
    datasets = build_results(study, job, features, predictions, registry)
    return store_datasets(endpoints.get(reference.endpoint), datasets)
