"""SEG and RTSTRUCT masks: placed exactly on the image grid, giving the label map's features; clear refusals."""

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from spinerad import extract
from spinerad.dicom import load_study, read_series
from spinerad.dicom.masks import fill_even_odd
from spinerad.errors import GeometryMismatch, InvalidInput, LabelNotFound

from .build import dice, write_rtstruct, write_seg, write_series
from .conftest import load_case

ROUND_TRIP_CASES = ("breast1", "lung1", "lung2")


def _array(image):
    return sitk.GetArrayFromImage(image)


@pytest.fixture(scope="module")
def shapes(breast1_series):
    """Synthetic ROIs on breast1's grid: a ring with a hole, two islands, and two overlapping blobs."""
    shape = breast1_series[2].GetSize()[::-1]
    z, y, x = np.indices(shape)
    r = np.hypot(y - 60, x - 22)
    ring = (r <= 15) & (r > 6) & (abs(z - 10) <= 3)
    islands = ((np.hypot(y - 30, x - 12) <= 5) | (np.hypot(y - 90, x - 30) <= 6)) & (abs(z - 8) <= 2)
    blob_a = (np.hypot(y - 60, x - 20) <= 10) & (abs(z - 10) <= 4)
    blob_b = (np.hypot(y - 66, x - 26) <= 10) & (abs(z - 11) <= 4)
    return {"ring": ring, "islands": islands, "a": blob_a, "b": blob_b}


@pytest.mark.parametrize("name", ROUND_TRIP_CASES)
def test_features_from_seg_and_rtstruct_equal_the_label_map_features(name, tmp_path):
    image, mask, label = load_case(name)
    datasets = write_series(image, tmp_path / "series", modality="CT" if name.startswith("lung") else "MR")
    roi = _array(mask) == label
    write_seg(datasets, {1: ("lesion", roi)}, tmp_path / "seg.dcm")
    write_rtstruct(datasets, image, {"lesion": roi}, tmp_path / "rt.dcm")
    # the label map on the grid of the image as read from DICOM (decimal strings there: spacing ~1e-15 off)
    dicom_image = read_series(tmp_path / "series").image
    mask.CopyInformation(dicom_image)
    expected = extract(dicom_image, mask, label=label)
    from_seg = extract(tmp_path / "series", tmp_path / "seg.dcm", label=label)
    from_rt = extract(tmp_path / "series", tmp_path / "rt.dcm", label=label)
    assert from_seg == expected
    assert from_rt == expected
    study = load_study(tmp_path / "series", tmp_path / "rt.dcm")
    round_trip = dice(_array(study.mask) > 0, roi)
    print(f"RTSTRUCT round trip {name}: Dice {round_trip:.6f}")
    assert round_trip >= 0.99


def test_seg_with_only_nonempty_frames_is_padded_back(breast1_series, tmp_path):
    folder, datasets, image, mask = breast1_series
    roi = _array(mask) > 0
    seg = write_seg(datasets, {1: ("lesion", roi)}, tmp_path / "seg.dcm")
    assert seg.NumberOfFrames == np.count_nonzero(roi.any(axis=(1, 2))) < roi.shape[0]
    study = load_study(folder, tmp_path / "seg.dcm", label=3)
    np.testing.assert_array_equal(_array(study.mask), roi * 3)
    assert (study.roi.kind, study.roi.number, study.roi.name) == ("seg", 1, "lesion")


def test_seg_placed_by_geometry_over_a_non_dicom_image(breast1_series, tmp_path):
    folder, datasets, image, mask = breast1_series
    write_seg(datasets, {1: ("lesion", _array(mask) > 0)}, tmp_path / "seg.dcm")
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    study = load_study(tmp_path / "image.nrrd", tmp_path / "seg.dcm")
    np.testing.assert_array_equal(_array(study.mask), _array(mask) > 0)


def test_overlapping_segments_are_each_taken_alone(breast1_series, shapes, tmp_path):
    folder, datasets, _, _ = breast1_series
    assert (shapes["a"] & shapes["b"]).any()
    write_seg(datasets, {1: ("A", shapes["a"]), 2: ("B", shapes["b"])}, tmp_path / "seg.dcm")
    for number, name in ((1, "a"), (2, "b")):
        np.testing.assert_array_equal(
            _array(load_study(folder, tmp_path / "seg.dcm", segment=number).mask), shapes[name]
        )
    np.testing.assert_array_equal(_array(load_study(folder, tmp_path / "seg.dcm", roi="B").mask), shapes["b"])
    with pytest.raises(
        InvalidInput, match=r"holds 2 ROIs; choose one with --segment N or --roi NAME: 1 'A', 2 'B'"
    ):
        load_study(folder, tmp_path / "seg.dcm")
    with pytest.raises(LabelNotFound, match=r"has no segment 3; it holds: 1 'A', 2 'B'"):
        load_study(folder, tmp_path / "seg.dcm", segment=3)


def test_labelmap_seg(breast1_series, shapes, tmp_path):
    folder, datasets, _, _ = breast1_series
    write_seg(
        datasets,
        {1: ("ring", shapes["ring"]), 2: ("islands", shapes["islands"])},
        tmp_path / "seg.dcm",
        segmentation_type="LABELMAP",
    )
    np.testing.assert_array_equal(
        _array(load_study(folder, tmp_path / "seg.dcm", segment=2).mask), shapes["islands"]
    )


def test_fractional_seg_is_thresholded(breast1_series, shapes, tmp_path):
    import highdicom as hd

    folder, datasets, _, _ = breast1_series
    values = np.where(shapes["a"], 0.3, 0.0) + np.where(shapes["ring"], 0.5, 0.0)  # 0.3, 0.5 and 0.8 regions
    write_seg(
        datasets,
        {1: ("p", values.astype(np.float32))},
        tmp_path / "seg.dcm",
        segmentation_type="FRACTIONAL",
        fractional_type=hd.seg.SegmentationFractionalTypeValues.PROBABILITY,
        max_fractional_value=255,
    )
    default = _array(load_study(folder, tmp_path / "seg.dcm").mask) > 0
    np.testing.assert_array_equal(default, shapes["ring"])  # 0.5 -> 128/255 >= 0.5; 0.3 -> 77/255 < 0.5
    low = _array(load_study(folder, tmp_path / "seg.dcm", seg_threshold=0.25).mask) > 0
    np.testing.assert_array_equal(low, shapes["ring"] | shapes["a"])


def test_rtstruct_hole_islands_and_no_contour_image_sequence(breast1_series, shapes, tmp_path):
    folder, datasets, image, _ = breast1_series
    write_rtstruct(
        datasets,
        image,
        {"ring": shapes["ring"], "islands": shapes["islands"]},
        tmp_path / "rt.dcm",
        contour_image_sequence=False,
    )
    ring = load_study(folder, tmp_path / "rt.dcm", roi="ring")
    np.testing.assert_array_equal(_array(ring.mask), shapes["ring"])  # the hole stays a hole
    np.testing.assert_array_equal(
        _array(load_study(folder, tmp_path / "rt.dcm", roi="islands").mask), shapes["islands"]
    )
    with pytest.raises(
        InvalidInput, match=r"RTSTRUCT rt.dcm holds 2 ROIs; choose one with --roi NAME: 1 'ring', 2 'islands'"
    ):
        load_study(folder, tmp_path / "rt.dcm")
    with pytest.raises(LabelNotFound, match="has no ROI named 'liver'"):
        load_study(folder, tmp_path / "rt.dcm", roi="liver")


def test_even_odd_rule_on_hand_made_polygons():
    square = np.array([[0.5, 0.5], [4.5, 0.5], [4.5, 4.5], [0.5, 4.5]])  # voxel centres 1..4 inside
    inner = np.array([[1.5, 1.5], [3.5, 1.5], [3.5, 3.5], [1.5, 3.5]])  # centres 2..3: a hole
    filled = fill_even_odd([square, inner], (6, 6))
    expected = np.zeros((6, 6), dtype=bool)
    expected[1:5, 1:5] = True
    expected[2:4, 2:4] = False
    np.testing.assert_array_equal(filled, expected)
    # a centre exactly on a left edge is inside, on a right edge outside (half-open rule)
    on_edges = fill_even_odd([np.array([[1.0, 0.5], [3.0, 0.5], [3.0, 1.5], [1.0, 1.5]])], (2, 5))
    np.testing.assert_array_equal(on_edges[1], [False, True, True, False, False])


def test_refusals(breast1_series, shapes, tmp_path):
    folder, datasets, image, _ = breast1_series
    other_for = write_series(image, tmp_path / "other")
    write_seg(other_for, {1: ("lesion", shapes["a"])}, tmp_path / "other-seg.dcm")
    with pytest.raises(GeometryMismatch, match="is in frame of reference .* not drawn on this image"):
        load_study(folder, tmp_path / "other-seg.dcm")
    write_rtstruct(
        datasets, image, {"a": shapes["a"]}, tmp_path / "rt-series.dcm", series_uid_override=generate_uid()
    )
    with pytest.raises(GeometryMismatch, match="references series .*, not the image series"):
        load_study(folder, tmp_path / "rt-series.dcm")
    write_rtstruct(datasets, image, {"a": shapes["a"]}, tmp_path / "rt-off.dcm", z_shift=0.4)
    with pytest.raises(
        GeometryMismatch, match="does not lie in an image slice plane .* contours off the image grid"
    ):
        load_study(folder, tmp_path / "rt-off.dcm")
    write_rtstruct(datasets, image, {"a": shapes["a"]}, tmp_path / "rt-out.dcm", z_shift=30)
    with pytest.raises(GeometryMismatch, match="lies outside the image"):
        load_study(folder, tmp_path / "rt-out.dcm")
    write_seg(
        datasets, {1: ("a", shapes["a"]), 2: ("empty", np.zeros_like(shapes["a"]))}, tmp_path / "empty.dcm"
    )
    with pytest.raises(LabelNotFound, match="ROI 'empty' is empty"):
        load_study(folder, tmp_path / "empty.dcm", segment=2)
    with pytest.raises(InvalidInput, match="--segment/--roi choose a ROI of a DICOM SEG or RTSTRUCT"):
        load_study(folder, folder, segment=1)


def _require_plastimatch():
    from ..conftest import require_tool

    require_tool("plastimatch", "Debian package plastimatch")


def test_plastimatch_agrees_with_the_rasteriser(tmp_path):
    import subprocess

    _require_plastimatch()
    scores = {}
    for name in ROUND_TRIP_CASES:
        image, mask, label = load_case(name)
        datasets = write_series(image, tmp_path / name / "series")
        write_rtstruct(datasets, image, {"lesion": _array(mask) == label}, tmp_path / name / "rt.dcm")
        out = tmp_path / name / "plastimatch"
        subprocess.run(
            [
                "plastimatch",
                "convert",
                "--input",
                str(tmp_path / name / "rt.dcm"),
                "--referenced-ct",
                str(tmp_path / name / "series"),
                "--output-prefix",
                str(out),
                "--prefix-format",
                "nrrd",
                "--xor-contours",
            ],
            check=True,
            capture_output=True,
        )
        theirs = sitk.ReadImage(str(out / "lesion.nrrd"))
        ours = load_study(tmp_path / name / "series", tmp_path / name / "rt.dcm").mask
        assert theirs.GetSize() == ours.GetSize()
        scores[name] = dice(_array(theirs) > 0, _array(ours) > 0)
    print("plastimatch vs spinerad Dice:", {k: round(v, 6) for k, v in scores.items()})
    assert min(scores.values()) >= 0.98


def test_rtstructs_written_by_plastimatch(breast1_series, shapes, tmp_path):
    """Contours from an independent writer (plastimatch: marching squares, holes keyholed) read back exactly."""
    import subprocess

    _require_plastimatch()
    scores = {}
    cases = {name: load_case(name) for name in ROUND_TRIP_CASES}
    image, _, _ = cases["breast1"]
    ring = sitk.GetImageFromArray(shapes["ring"].astype(np.uint8))
    ring.CopyInformation(image)
    cases["breast1-ring"] = (image, ring, 1)
    for name, (image, mask, label) in cases.items():
        folder = tmp_path / name
        write_series(image, folder / "series")
        (folder / "structures").mkdir()
        sitk.WriteImage(sitk.Cast(mask == label, sitk.sitkUInt8), str(folder / "structures" / "lesion.nrrd"))
        subprocess.run(
            [
                "plastimatch",
                "convert",
                "--input-prefix",
                str(folder / "structures"),
                "--output-dicom",
                str(folder / "rtss"),
                "--referenced-ct",
                str(folder / "series"),
            ],
            check=True,
            capture_output=True,
        )
        (rtss,) = (folder / "rtss").glob("rtss*.dcm")
        ours = load_study(folder / "series", rtss).mask
        scores[name] = dice(_array(ours) > 0, _array(mask) == label)
    print("plastimatch-written RTSTRUCT read by spinerad, Dice:", {k: round(v, 6) for k, v in scores.items()})
    assert min(scores.values()) >= 0.99
