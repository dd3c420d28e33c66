"""Feature maps as DICOM Parametric Maps: valid for ``dciodvfy``, referencing the source, equal on read-back.

The source series is an MR series written here with pydicom (oblique-free, 8 slices); the mask is a NRRD on
the series' grid. ``dciodvfy`` (Debian ``dicom3tools``) must report no "Error" line; highdicom reads each
object back and its voxels and geometry must equal the NRRD map written beside it.
"""

import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinerad.cli import EXIT_INVALID, main
from spinerad.dicom.maps import read_parametric_map
from tests.conftest import require_tool
from tests.dicom.build import write_series


def _dciodvfy():
    return require_tool("dciodvfy", "Debian dicom3tools")


#: Slice orientations of the source series: (x, y, z) axes as the columns of a SimpleITK direction.
ORIENTATIONS = {
    "axial": (1, 0, 0, 0, 1, 0, 0, 0, 1),
    # rows along anterior-posterior, columns head to foot, slices left to right: a sagittal spine series
    "sagittal": (0, 0, 1, 1, 0, 0, 0, -1, 0),
}


def _write_series(
    folder,
    array,
    spacing=(0.9, 0.8),
    thickness=2.5,
    origin=(-10.0, 20.0, 5.0),
    direction=ORIENTATIONS["axial"],
):
    """Write ``array`` (z, y, x) as an MR series with the DICOM tests' writer; return it as read back."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((*spacing, thickness))
    image.SetOrigin(origin)
    image.SetDirection(direction)
    write_series(image, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.fixture(params=sorted(ORIENTATIONS))
def dicom_study(tmp_path, request):
    rng = np.random.default_rng(7)
    array = rng.normal(300, 60, size=(8, 20, 24))
    image = _write_series(tmp_path / "series", array, direction=ORIENTATIONS[request.param])
    mask = np.zeros(array.shape, dtype=np.uint8)
    mask[2:5, 5:11, 6:14] = 1
    mask[4, 11, 14] = 1
    mask_image = sitk.GetImageFromArray(mask)
    mask_image.CopyInformation(image)
    sitk.WriteImage(mask_image, str(tmp_path / "mask.nrrd"))
    params = tmp_path / "voxel.yaml"
    params.write_text(
        "featureClass: {firstorder: [Mean, Entropy], glcm: [Contrast, MCC]}\n"
        "voxelSetting: {kernelRadius: 1}\n"
    )
    return tmp_path


def test_parametric_maps_pass_dciodvfy_and_read_back_equal(dicom_study, capsys):
    dciodvfy = _dciodvfy()
    folder = dicom_study
    code = main(
        [
            "extract",
            str(folder / "series"),
            str(folder / "mask.nrrd"),
            "--params",
            str(folder / "voxel.yaml"),
            "--maps-out",
            str(folder / "maps"),
            "--maps-dicom",
            str(folder / "pm"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    objects = sorted((folder / "pm").iterdir())
    assert [p.name for p in objects] == [
        "original_firstorder_Entropy.dcm",
        "original_firstorder_Mean.dcm",
        "original_glcm_Contrast.dcm",
        "original_glcm_MCC.dcm",
    ]
    source = [pydicom.dcmread(p) for p in (folder / "series").iterdir()]
    source_uids = {ds.SOPInstanceUID for ds in source}
    source_orientation = np.array(source[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(source_orientation[:3], source_orientation[3:])
    source_depths = np.array([normal @ np.array(ds.ImagePositionPatient, dtype=float) for ds in source])
    for path in objects:
        report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
        errors = [line for line in (report.stdout + report.stderr).splitlines() if "Error" in line]
        assert errors == [], f"{path.name}: {errors}"
        dataset = pydicom.dcmread(path)
        referenced = {
            item.ReferencedSOPInstanceUID
            for series in dataset.ReferencedSeriesSequence
            for item in series.ReferencedInstanceSequence
        }
        assert referenced and referenced <= source_uids
        nrrd = sitk.ReadImage(str(folder / "maps" / f"Case-1_{path.stem}.nrrd"))
        # frames parallel to the source slices, each on one of them: what a viewer needs to overlay the map
        shared = dataset.SharedFunctionalGroupsSequence[0]
        orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
        np.testing.assert_allclose(orientation, source_orientation, atol=1e-6)
        assert int(dataset.NumberOfFrames) == nrrd.GetSize()[2]
        for frame in dataset.PerFrameFunctionalGroupsSequence:
            depth = normal @ np.array(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
            assert np.abs(source_depths - depth).min() < 1e-4
        name, read_back = read_parametric_map(path, like=nrrd)
        assert name == path.stem
        np.testing.assert_array_equal(sitk.GetArrayFromImage(read_back), sitk.GetArrayFromImage(nrrd))
        np.testing.assert_allclose(read_back.GetOrigin(), nrrd.GetOrigin(), atol=1e-6)
        np.testing.assert_allclose(read_back.GetSpacing(), nrrd.GetSpacing(), atol=1e-9)
        np.testing.assert_allclose(read_back.GetDirection(), nrrd.GetDirection(), atol=1e-9)


def test_parametric_maps_need_a_dicom_series(dicom_study, capsys, tmp_path):
    folder = dicom_study
    image = sitk.ReadImage(str(folder / "mask.nrrd"))
    sitk.WriteImage(sitk.Cast(image, sitk.sitkInt16), str(tmp_path / "image.nrrd"))
    code = main(
        [
            "extract",
            str(tmp_path / "image.nrrd"),
            str(folder / "mask.nrrd"),
            "--params",
            str(folder / "voxel.yaml"),
            "--maps-dicom",
            str(folder / "pm"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_INVALID and out == ""
    assert (
        err.strip()
        == "spinerad: error: --maps-dicom needs IMAGE to be a DICOM series folder (the maps reference it)"
    )
