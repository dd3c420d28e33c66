"""What ``spinerad extract`` loads at startup (behaviour: which modules, never how long)."""

import json
import subprocess
import sys

import numpy as np
import SimpleITK as sitk

CHILD = """
import json, sys
from spinerad.cli import main
code = main(["extract", sys.argv[1], sys.argv[2], "--out", sys.argv[3]])
import numba.core.typing.cffi_utils as numba_cffi
report = {"code": code, "cffi_loaded_by_extract": "cffi" in sys.modules, "numba_cffi": numba_cffi.SUPPORTED}
import cffi  # still importable for whoever needs it afterwards
report["cffi_importable"] = cffi.FFI is not None
print(json.dumps(report))
"""


def test_extract_does_not_load_cffi(tmp_path):
    """Numba's CFFI typing (pycparser's C grammar) is skipped; cffi itself stays importable."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 300, size=(6, 12, 12)).astype(np.int16)
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[1:5, 3:9, 2:10] = 1
    paths = [tmp_path / "image.nrrd", tmp_path / "mask.nrrd"]
    for array, path in zip((image, mask), paths, strict=True):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    out = tmp_path / "features.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "code": 0,
        "cffi_loaded_by_extract": False,
        "numba_cffi": False,
        "cffi_importable": True,
    }
    assert json.loads(out.read_text())["original_firstorder_Mean"] > 0


REGISTRIES_CHILD = """
import json, sys
from spinerad.cli import main
code = main(["extract", sys.argv[1], sys.argv[2], "--params", sys.argv[3], "--out", sys.argv[4]])
print(json.dumps({"code": code, "registries_loaded": "numba.typed.typeddict" in sys.modules}))
"""


def test_extract_loads_cached_kernels_without_numba_registries(tmp_path):
    """Kernels come from the JIT cache without Numba's lowering registries, and give the library's values.

    The profile resamples, normalises and filters (LoG, wavelet), so most kernel families load. The library
    call in this process runs first, so every kernel the command needs is in the cache when it starts.
    """
    import spinerad

    rng = np.random.default_rng(11)
    image = (200 + 60 * rng.standard_normal((14, 30, 28))).astype(np.int16)
    mask = np.zeros(image.shape, dtype=np.uint8)
    mask[3:11, 8:22, 6:20] = 1
    mask[5, 8, 6] = 0
    paths = [tmp_path / "image.nrrd", tmp_path / "mask.nrrd"]
    for array, path in zip((image, mask), paths, strict=True):
        item = sitk.GetImageFromArray(array)
        item.SetSpacing((0.7, 0.8, 2.5))
        sitk.WriteImage(item, str(path))
    profile = {
        "setting": {"binWidth": 20, "normalize": True, "resampledPixelSpacing": [1.5, 1.5, 2.0], "label": 1},
        "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 2.0]}, "Wavelet": {}},
        "featureClass": {"shape": None, "firstorder": None, "glcm": None, "glrlm": None, "glszm": None},
    }
    params = tmp_path / "params.json"
    params.write_text(json.dumps(profile))
    expected = spinerad.extract(*spinerad.read_study(*map(str, paths)), params=profile)
    out = tmp_path / "features.json"
    done = subprocess.run(
        [sys.executable, "-c", REGISTRIES_CHILD, *map(str, paths), str(params), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "registries_loaded": False}
    got = json.loads(out.read_text())
    features = {name: value for name, value in expected.items() if not name.startswith("diagnostics_")}
    assert features and {name: got[name] for name in features} == features
