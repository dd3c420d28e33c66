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
