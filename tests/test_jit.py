"""Where compiled kernels are cached, the compile stage, the first-compile note and ``spinerad warmup``.

The cache must never land in the installed package (issue 9: files pip does not own turned
``site-packages/spinerad`` into a namespace package that hid a later editable install). Numba picks the
folder when a kernel is decorated, so these checks run in fresh processes with a controlled environment.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad import jit
from spinerad.cli import main
from spinerad.kernels._config import source_tag

PACKAGE = Path(spinerad.__file__).resolve().parent
KERNELS = Path(spinerad.kernels.__file__).resolve().parent

# Prints, for every cached CPU kernel, the folder Numba's locator chose for it.
CACHE_PATHS = """
import importlib, json, pkgutil
import numba
from numba.core.registry import CPUDispatcher
import spinerad.kernels as K
paths = {}
for info in pkgutil.iter_modules(K.__path__):
    if info.name.startswith("gpu_"):
        continue
    module = importlib.import_module("spinerad.kernels." + info.name)
    for name, obj in vars(module).items():
        if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
            paths[info.name + "." + name] = obj._cache.cache_path
print(json.dumps({"config": numba.config.CACHE_DIR, "paths": paths}))
"""


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update({k: str(v) for k, v in changes.items()})
    return env


def _cache_paths(env):
    result = subprocess.run(
        [sys.executable, "-c", CACHE_PATHS], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def _kernel_cache_files():
    found = (p for pattern in ("*.nbi", "*.nbc") for p in PACKAGE.parent.rglob(pattern))
    return {p for p in found if KERNELS in p.parents}


def test_default_cache_is_per_user(tmp_path):
    found = _cache_paths(_env(XDG_CACHE_HOME=tmp_path))
    assert found["config"] == str(tmp_path / "spinerad" / "numba" / source_tag())
    assert len(found["paths"]) >= 20  # every cached kernel, not just a few
    for name, path in found["paths"].items():
        assert Path(path).is_relative_to(tmp_path / "spinerad" / "numba" / source_tag()), name


def test_numba_cache_dir_is_respected(tmp_path):
    found = _cache_paths(_env(NUMBA_CACHE_DIR=tmp_path / "mine", XDG_CACHE_HOME=tmp_path / "xdg"))
    assert found["config"] == str(tmp_path / "mine" / source_tag())
    assert all(Path(p).is_relative_to(tmp_path / "mine") for p in found["paths"].values())
    assert not (tmp_path / "xdg").exists()
    # a child process inherits the tagged folder (exported by its parent) and keeps it as it is
    child = _cache_paths(_env(NUMBA_CACHE_DIR=found["config"]))
    assert child["config"] == found["config"]


def test_cache_folder_changes_with_any_kernel_source(tmp_path):
    """A changed callee in another module must not be served from the old cache.

    Numba re-validates a cached kernel against its own file only, so the folder is named by a digest of
    every kernel module's source.
    """
    copy = tmp_path / "kernels"
    copy.mkdir()
    for path in KERNELS.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    assert source_tag(copy) == source_tag()
    callee = copy / "glcm_formulas.py"
    callee.write_bytes(callee.read_bytes() + b"\n# an edit\n")
    assert source_tag(copy) != source_tag()


def test_unusable_user_folder_falls_back_to_a_private_temporary_folder(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # XDG_CACHE_HOME is a file: no cache folder can be made under it
    found = _cache_paths(_env(XDG_CACHE_HOME=blocker, TMPDIR=tmp_path))
    private = Path(found["config"])
    assert private.name == source_tag()
    assert private.parent.parent == tmp_path and private.parent.name.startswith("spinerad-numba-")
    for folder in (private, private.parent):
        assert folder.stat().st_mode & 0o077 == 0  # holds code Numba runs: nobody else may write it
    assert all(Path(p).is_relative_to(private) for p in found["paths"].values())


def test_first_extraction_compiles_into_the_user_cache_with_one_note(tmp_path):
    """A fresh machine: one note, a ``compile`` stage, cache files in the user folder, none in the package."""
    image = sitk.GetImageFromArray(np.random.default_rng(0).integers(0, 200, (6, 10, 12)).astype(np.int16))
    mask_array = np.zeros((6, 10, 12), dtype=np.uint8)
    mask_array[1:5, 2:8, 3:10] = 1
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(mask_array), str(tmp_path / "mask.nrrd"))
    (tmp_path / "params.yaml").write_text("featureClass:\n  firstorder:\n")  # few kernels: a short compile
    before = _kernel_cache_files()
    command = [sys.executable, "-m", "spinerad", "extract", "image.nrrd", "mask.nrrd"]
    command += ["--params", "params.yaml"]
    env = _env(XDG_CACHE_HOME=tmp_path / "cache")
    runs = [
        subprocess.run([*command, "--timings"], cwd=tmp_path, env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["original_firstorder_Mean"] > 0
    first, second = (run.stderr.strip().splitlines() for run in runs)
    notes = [line for line in first if "compiling kernels for this CPU, once" in line]
    assert len(notes) == 1 and notes == first[:1]
    assert json.loads(first[-1])["compile"] > 0
    assert len(second) == 1 and "compile" in json.loads(second[0])  # loaded from the cache: no note
    assert list((tmp_path / "cache" / "spinerad" / "numba").rglob("*.nbi"))
    assert _kernel_cache_files() == before


# Loads (or compiles) the kernels for an extraction, then extracts several studies with those parameters:
# any kernel specialisation they need beyond what the compile stage made would be compiled in a later stage.
NOTHING_LATER = """
import json, sys
import numpy as np, SimpleITK as sitk
import spinerad
from spinerad import jit
from spinerad.pipeline import _resolve_params
from numba.core import event
from spinerad.sample import make_sample_study

compiled = []
class Record(event.Listener):
    def on_start(self, e):
        compiled.append(str(e.data["dispatcher"].py_func.__qualname__))
    def on_end(self, e):
        pass

classes = ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
params = _resolve_params({"imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {}},
                          "featureClass": {c: None for c in classes}})
image, mask = make_sample_study(seed=3)
jit.ensure_compiled(params, "cpu", mask)
jit.ensure_compiled(_resolve_params(None), "cpu", mask, ibsi=True)
# normalisation and B-spline resampling (their kernels are readied by what the parameters select)
preprocessed = _resolve_params({"setting": {"normalize": True, "resampledPixelSpacing": [1.5, 1.5, 2.5]},
                                "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}},
                                "featureClass": {"firstorder": None}})
jit.ensure_compiled(preprocessed, "cpu", mask)
# normalisation without resampling: the filters' crops are normalised apart from any B-spline pass
normalised = _resolve_params({"setting": {"normalize": True}, "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}},
                              "featureClass": {"firstorder": None}})
jit.ensure_compiled(normalised, "cpu", mask)
event.register("numba:compile", Record())
timer = spinerad.StageTimer()
for pixel_type in (sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkFloat32, sitk.sitkFloat64):
    spinerad.extract(sitk.Cast(image, pixel_type), mask, params=params, timer=timer)
spinerad.extract(image, mask, ibsi=True)
for pixel_type in (sitk.sitkInt16, sitk.sitkFloat32):
    spinerad.extract(sitk.Cast(image, pixel_type), mask, params=preprocessed, timer=timer)
for pixel_type in (sitk.sitkInt16, sitk.sitkFloat64):
    spinerad.extract(sitk.Cast(image, pixel_type), mask, params=normalised, timer=timer)
writable = sitk.GetImageFromArray(sitk.GetArrayFromImage(mask).astype(np.int8))  # signed, same item size
writable.CopyInformation(mask)
spinerad.extract(image, writable, params=params, timer=timer)
print(json.dumps({"compiled": compiled, "compile_ms": timer.as_dict()["compile"]}))
"""


def test_nothing_is_compiled_after_the_compile_stage():
    """Wrappers cast to one dtype per argument: the compile stage's warm-up covers every later call."""
    result = subprocess.run([sys.executable, "-c", NOTHING_LATER], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["compiled"] == []


def test_warmup_command_readies_every_kernel(capsys):
    from numba.core.registry import CPUDispatcher

    from spinerad.kernels import roi

    assert main(["warmup"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["cache_dir"] == jit.cache_dir() and summary["devices"] == ["cpu"]
    assert summary["kernels_compiled"] >= 0 and summary["seconds"] >= 0
    import importlib
    import pkgutil

    import spinerad.kernels as kernels

    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name.startswith("gpu_"):
            continue
        module = importlib.import_module(f"spinerad.kernels.{info.name}")
        for name, obj in vars(module).items():
            # (helpers called only from other kernels, e.g. shape._pair_maxima, are compiled into them)
            ours = isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__
            if ours and name.endswith("_kernel"):
                assert obj.signatures, f"{info.name}.{name} was not compiled by warmup"
    # one specialisation per mask item size, whatever the signedness
    mask_types = {str(sig[0].dtype) for sig in roi._label_box_kernel.signatures}
    assert {"uint8", "uint16", "uint32", "uint64"} <= mask_types
    assert not {"int8", "int16", "int32", "int64"} & mask_types


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint64, np.bool_])
def test_label_box_on_unsigned_view_equals_numpy(dtype):
    rng = np.random.default_rng(7)
    label = 1 if dtype is np.bool_ else 100
    mask = rng.integers(-3 if np.dtype(dtype).kind == "i" else 0, 2, size=(5, 7, 9)).astype(dtype)
    mask[2, 3:5, 1:6] = label
    count, box, _ = spinerad.kernels.label_bounding_box(mask, label)
    where = np.nonzero(mask == label)
    assert count == len(where[0])
    assert box == tuple(slice(int(w.min()), int(w.max()) + 1) for w in where)
    assert mask.flags.writeable  # the caller's array is untouched


def test_warmup_for_cuda_without_a_gpu_is_a_clear_error(capsys):
    from spinerad.cli import EXIT_DEVICE
    from spinerad.kernels._cuda import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("a CUDA device (or the simulator) is present here")  # the GPU run compiles instead
    assert main(["warmup", "--device", "cuda"]) == EXIT_DEVICE
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("spinerad: error: device 'cuda' requested but ")


def test_choosing_the_cache_folder_keeps_the_threading_layer(tmp_path):
    """Setting NUMBA_CACHE_DIR must not make Numba's next config reload undo the threading layer set in code.

    (Numba re-reads its whole configuration at a compilation once the environment changed; found by the
    cohort test on a cold cache: the parent's layer reverted to "default" while its Dask workers kept tbb.)
    """
    script = (
        "import numba, spinerad.kernels\n"  # numba first, then spinerad changes the environment
        "chosen = numba.config.THREADING_LAYER\n"
        "f = numba.njit(lambda x: x + 1)\n"
        "f(1)\n"  # a compilation: Numba reloads its configuration if the environment changed
        "print(chosen, numba.config.THREADING_LAYER, numba.config.CACHE_DIR)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=_env(XDG_CACHE_HOME=tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    chosen, after, cache = result.stdout.split()
    assert after == chosen and cache == str(tmp_path / "spinerad" / "numba" / source_tag())


# A fresh process: loading the kernels must not import scipy.linalg (Numba's BLAS probe), must leave Numba's
# answer to "is BLAS available?" as it would be, and must leave the real module importable afterwards.
BLAS_PROBE = """
import json, sys
import numpy as np
import numba
import spinerad
from spinerad.sample import make_sample_study

image, mask = make_sample_study(seed=3)
spinerad.extract(image, mask)
loaded_linalg = "scipy.linalg" in sys.modules
import numba.np.arraymath
import scipy.linalg.cython_blas
from scipy.linalg import cython_blas

@numba.njit
def solve(a, b):
    return np.linalg.solve(a, b)

x = solve(np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([3.0, 5.0]))
print(json.dumps({"loaded_linalg": loaded_linalg, "have_blas": numba.np.arraymath._HAVE_BLAS,
                  "real_module": hasattr(cython_blas, "__pyx_capi__"), "x": x.tolist()}))
"""


def test_first_call_beside_other_threads_imports_the_real_blas_module():
    """With another Python thread alive, no placeholder: that thread could import the module meanwhile."""
    script = BLAS_PROBE.replace(
        "spinerad.extract(image, mask)",
        "import threading\nstop = threading.Event()\nthreading.Thread(target=stop.wait).start()\n"
        "spinerad.extract(image, mask)\nstop.set()",
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["loaded_linalg"] is True  # the real probe ran
    assert outcome["have_blas"] is True and outcome["real_module"] is True
    assert np.allclose(outcome["x"], [0.8, 1.4])


def test_kernel_loading_skips_scipy_linalg_but_not_blas():
    result = subprocess.run([sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["loaded_linalg"] is False
    assert outcome["have_blas"] is True
    assert outcome["real_module"] is True
    assert np.allclose(outcome["x"], [0.8, 1.4])
