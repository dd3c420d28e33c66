"""Test studies for the PACS tests, built at test time (never committed): an MR series and a BINARY SEG.

The image is one of ../shared's PyRadiomics cases (breast1: 45x120x21) written as a DICOM MR series by the
DICOM tests' writer; the SEG is made with highdicom from the case's label map. BINARY, because Orthanc 1.10
refuses the newer label-map SEG SOP class over DIMSE.
"""

from pathlib import Path

import SimpleITK as sitk
from pydicom.uid import generate_uid

from ..dicom.build import write_seg as write_segments
from ..dicom.build import write_series


def write_seg(datasets, mask, path, label=1, frame_of_reference_uid=None):
    """A BINARY SEG of ``mask == label`` over the series ``datasets``; optionally in another frame of reference."""
    roi = sitk.GetArrayFromImage(mask) == label
    return write_segments(
        datasets,
        {1: ("lesion", roi)},
        path,
        series_number=50,
        manufacturer="test-annotator",
        frame_of_reference_uid=frame_of_reference_uid,
    )


def write_study(folder, image, mask, with_seg=True, seg_frame_of_reference=None, patient_id="TEST-0001"):
    """Series (+ SEG) of one study under ``folder``; returns a dict of paths and UIDs."""
    folder = Path(folder)
    study_uid = generate_uid()
    datasets = write_series(image, folder / "series", study_uid=study_uid, patient_id=patient_id)
    paths = sorted((folder / "series").iterdir())
    out = {
        "study_uid": study_uid,
        "series_uid": str(datasets[0].SeriesInstanceUID),
        "series_paths": paths,
        "seg_path": None,
        "seg_uid": None,
    }
    if with_seg:
        seg_path = folder / "seg.dcm"
        seg = write_seg(datasets, mask, seg_path, frame_of_reference_uid=seg_frame_of_reference)
        out["seg_path"], out["seg_uid"] = seg_path, str(seg.SOPInstanceUID)
    out["paths"] = paths + ([out["seg_path"]] if with_seg else [])
    return out
