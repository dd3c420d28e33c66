"""``spinerad extract ... --maps-out DIR --preview PNG``: map files, names, grid, preview, bad input.

The map values themselves are checked against PyRadiomics in ``test_voxel_oracle.py``; here the files must
hold exactly what the Python API returns, under PyRadiomics' CLI names (``Case-1_<feature>.nrrd``), and
the PyRadiomics voxel-mode file names and grid must match the oracle's for the same study.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

import spinerad.voxel as voxel_maps
from spinerad.cli import EXIT_INVALID, main
from tests.conftest import require_oracle


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 200, size=(6, 10, 12)).astype(np.int16)
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[2:4, 3:6, 4:8] = 1
    mask[3, 5, 8] = 1
    img = sitk.GetImageFromArray(image)
    img.SetSpacing((0.8, 0.9, 2.5))
    img.SetOrigin((-10.0, 4.0, 30.0))
    msk = sitk.GetImageFromArray(mask)
    msk.CopyInformation(img)
    sitk.WriteImage(img, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(msk, str(tmp_path / "mask.nrrd"))
    params = {
        "setting": {"binWidth": 20},
        "featureClass": {"firstorder": ["Mean", "Entropy"], "glcm": ["Contrast"], "shape": []},
        "voxelSetting": {"kernelRadius": 1, "initValue": -1.0},
    }
    (tmp_path / "voxel.yaml").write_text(yaml.safe_dump(params))
    return tmp_path, params


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _extract(capsys, folder, params_file, *options):
    """``spinerad extract`` of the study in ``folder`` with ``folder / params_file``, plus ``options``."""
    return _run(
        capsys,
        "extract",
        folder / "image.nrrd",
        folder / "mask.nrrd",
        "--params",
        folder / params_file,
        *options,
    )


def test_maps_out_writes_one_nrrd_per_feature_equal_to_the_api(capsys, study):
    folder, params = study
    code, out, err = _extract(
        capsys, folder, "voxel.yaml", "--maps-out", folder / "maps", "--preview", folder / "preview.png"
    )
    assert code == 0, err
    per_roi = json.loads(out)
    assert "original_shape_VoxelVolume" in per_roi and "original_glcm_Contrast" in per_roi
    names = sorted(p.name for p in (folder / "maps").iterdir())
    expected = [
        "Case-1_original_firstorder_Entropy.nrrd",
        "Case-1_original_firstorder_Mean.nrrd",
        "Case-1_original_glcm_Contrast.nrrd",
    ]
    assert names == expected
    api = voxel_maps.feature_maps(str(folder / "image.nrrd"), str(folder / "mask.nrrd"), params)
    for name in api:
        written = sitk.ReadImage(str(folder / "maps" / f"Case-1_{name}.nrrd"))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(api[name]))
        assert written.GetOrigin() == api[name].GetOrigin()
        # the ROI box (2x3x5 voxels) grown by the kernel radius: 4x5x7 (z, y, x)
        assert sitk.GetArrayFromImage(written).shape == (4, 5, 7)
        assert np.sum(sitk.GetArrayFromImage(written) == -1.0) == 4 * 5 * 7 - 25  # 25 ROI voxels
    png = (folder / "preview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_map_names_and_grid_are_pyradiomics_voxel_mode(study):
    folder, params = study
    oracle = require_oracle().RadiomicsFeatureExtractor({**params, "featureClass": {"firstorder": ["Mean"]}})
    reference = oracle.execute(str(folder / "image.nrrd"), str(folder / "mask.nrrd"), voxelBased=True)
    ours = voxel_maps.feature_maps(
        str(folder / "image.nrrd"),
        str(folder / "mask.nrrd"),
        {**params, "featureClass": {"firstorder": ["Mean"]}},
    )
    ref_maps = {k: v for k, v in reference.items() if isinstance(v, sitk.Image)}
    assert sorted(ours) == sorted(ref_maps) == ["original_firstorder_Mean"]
    mine, ref = ours["original_firstorder_Mean"], ref_maps["original_firstorder_Mean"]
    assert mine.GetSize() == ref.GetSize()
    np.testing.assert_allclose(mine.GetOrigin(), ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(sitk.GetArrayFromImage(mine), sitk.GetArrayFromImage(ref), rtol=1e-10)


@pytest.mark.parametrize(
    "voxel, fragment",
    [
        ({"kernelRadius": 0}, "'kernelRadius' must be > 0"),
        ({"kernelRadius": 1.5}, "'kernelRadius' must be an integer"),
        ({"maskedKernal": True}, "did you mean 'maskedKernel'"),
        ({"voxelBatch": -2}, "'voxelBatch' must be > 0"),
    ],
)
def test_bad_voxel_settings_are_one_line_exit_2(capsys, study, voxel, fragment):
    folder, params = study
    (folder / "bad.yaml").write_text(yaml.safe_dump({**params, "voxelSetting": voxel}))
    code, out, err = _extract(capsys, folder, "bad.yaml", "--maps-out", folder / "maps")
    assert code == EXIT_INVALID
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_preview_of_an_unknown_map_is_an_error(capsys, study):
    folder, _ = study
    code, out, err = _extract(
        capsys, folder, "voxel.yaml", "--preview", folder / "p.png", "--preview-map", "original_glcm_Nope"
    )
    assert code == EXIT_INVALID
    assert "original_glcm_Nope" in err and len(err.strip().splitlines()) == 1


def test_interrupt_between_kernel_calls_stops_cleanly(capsys, study, monkeypatch):
    folder, _ = study
    calls = []

    def progress(description, total):
        class Bar:
            def update(self, n):
                calls.append(n)
                raise KeyboardInterrupt

            def close(self):
                calls.append("closed")

        return Bar()

    monkeypatch.setattr("spinerad.maps_output.terminal_progress", lambda stream=None: progress)
    code, out, err = _extract(capsys, folder, "voxel.yaml", "--maps-out", folder / "maps")
    assert code == 130
    assert err.strip() == "spinerad: interrupted"
    assert calls[-1] == "closed"


def test_feature_maps_mapping_equals_the_streamed_maps(study):
    """``feature_maps`` (images built when read) holds what ``iter_feature_maps`` yields, map by map."""
    folder, params = study
    image, mask = str(folder / "image.nrrd"), str(folder / "mask.nrrd")
    streamed = dict(voxel_maps.iter_feature_maps(image, mask, params))
    maps = voxel_maps.feature_maps(image, mask, params)
    assert list(maps) == list(streamed) and len(maps) == 3
    roi = sitk.GetArrayFromImage(sitk.ReadImage(mask))[1:5, 2:7, 3:10] == 1  # the map grid: box + radius
    for name, expected in streamed.items():
        grid = maps.array(name)
        np.testing.assert_array_equal(grid, sitk.GetArrayFromImage(expected))
        np.testing.assert_array_equal(grid, sitk.GetArrayFromImage(maps[name]))
        assert maps[name].GetOrigin() == expected.GetOrigin()
        assert np.all(grid[~roi] == -1.0) and np.all(grid[roi] != -1.0)
        np.testing.assert_array_equal(maps.voxel_values(name), grid[roi])


def test_feature_maps_without_a_voxel_class_are_empty(study):
    folder, params = study
    maps = voxel_maps.feature_maps(
        str(folder / "image.nrrd"), str(folder / "mask.nrrd"), {**params, "featureClass": {"shape": []}}
    )
    assert len(maps) == 0 and list(maps) == []
