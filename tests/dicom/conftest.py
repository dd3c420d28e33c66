"""Fixtures of the DICOM tests: PyRadiomics' cases written as DICOM series at test time (tmp_path)."""

import shutil

import pytest
import SimpleITK as sitk

from ..conftest import CASES, PYRADIOMICS_DATA, require
from .build import label_box_crop, write_series


def load_case(name, crop=None):
    """Image and label map of a ../shared PyRadiomics case (lung cases cropped around the ROI)."""
    folder = require(PYRADIOMICS_DATA)
    image_file, mask_file, label = CASES[name]
    image, mask = sitk.ReadImage(str(folder / image_file)), sitk.ReadImage(str(folder / mask_file))
    if crop if crop is not None else name.startswith("lung"):
        image, mask = label_box_crop(image, mask)
    return image, sitk.Cast(mask, sitk.sitkUInt8), label


@pytest.fixture(scope="module")
def breast1_series(tmp_path_factory):
    """breast1 as an MR series: (folder, datasets, image, mask)."""
    image, mask, _ = load_case("breast1")
    folder = tmp_path_factory.mktemp("breast1") / "series"
    datasets = write_series(image, folder)
    return folder, datasets, image, mask


@pytest.fixture()
def series_copy(breast1_series, tmp_path):
    """A fresh copy of the breast1 series folder that a test may damage."""
    folder = tmp_path / "series"
    shutil.copytree(breast1_series[0], folder)
    return folder
