"""End to end: ``extract(..., device="cuda")`` gives exactly the features of ``device="cpu"``."""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad

pytestmark = pytest.mark.cudasim


def _synthetic_study(seed=0, shape=(6, 7, 8)):
    """Make a small CT-like image and a label-1 ellipsoid with holes, as SimpleITK images."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.normal(100.0, 60.0, size=shape).round().astype(np.int16))
    image.SetSpacing((0.8, 0.9, 2.5))
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    inside = ((z - centre[0]) / 3.2) ** 2 + ((y - centre[1]) / 3.6) ** 2 + ((x - centre[2]) / 4.1) ** 2 <= 1
    inside &= rng.random(shape) > 0.1
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def test_extract_on_cuda_equals_cpu():
    """Every feature of a synthetic study is identical on both devices."""
    image, mask = _synthetic_study()
    on_cpu = spinerad.extract(image, mask, device="cpu")
    on_cuda = spinerad.extract(image, mask, device="cuda")
    assert on_cuda.keys() == on_cpu.keys()
    assert any("_glcm_" in name for name in on_cpu) and any("_glrlm_" in name for name in on_cpu)
    names = sorted(on_cpu)
    np.testing.assert_array_equal([on_cuda[n] for n in names], [on_cpu[n] for n in names])


def test_cli_says_which_families_run_on_the_cpu(tmp_path, capsys):
    """``--device cuda`` prints one note naming the families that have no CUDA twin (they run on the CPU)."""
    from spinerad.cli import main

    image, mask = _synthetic_study(seed=1)
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    code = main(["extract", str(tmp_path / "image.nrrd"), str(tmp_path / "mask.nrrd"), "--device", "cuda"])
    out, err = capsys.readouterr()
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("spinerad: note: --device cuda")]
    assert notes == [
        "spinerad: note: --device cuda runs GLCM and GLRLM on the GPU; "
        "shape, firstorder, GLSZM, GLDM and NGTDM run on the CPU"
    ]
    assert out.strip().startswith("{")
