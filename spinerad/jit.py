"""Compiling and loading the Numba kernels: once per process, timed as its own stage, announced once.

Numba compiles a kernel on its first call: about 30 s for all of them on a fresh machine (2 cores), after
which every process loads them from the cache folder (``spinerad.kernels._config.CACHE_DIR``) in about 1 s.
Before an extraction computes anything, :func:`ensure_compiled` makes sure every kernel it will call is
compiled or loaded, by running the same pipeline once on a small synthetic study with the same feature
classes and device. The kernel wrappers cast their inputs to one dtype per argument, so the kernels see the
same argument types on the real study and nothing is compiled later, inside another stage: ``--timings``
shows compiling/loading as the ``compile`` stage and every other stage as pure computation.

``spinerad warmup`` (:func:`warm_all`) compiles every kernel ahead of time, e.g. while a production image
is built, so that the first study on the machine does not pay for it.
"""

import os
import sys
import threading
import time

import numpy as np

from .kernels import _config

#: every feature family an extraction can ask for (PyRadiomics classes) plus IBSI mode
ALL_FAMILIES = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "ibsi")

_lock = threading.RLock()
_local = threading.local()
#: (family, device) pairs and ("mask", item size) kernels already compiled or loaded in this process
_ready = set()


def cache_dir():
    """The folder compiled kernels are cached in (None when caching is off: no writable folder)."""
    return _config.CACHE_DIR


def _mask_itemsize(mask):
    """Item size of the integer array the ROI-location kernel will scan for this mask."""
    import SimpleITK as sitk

    dtype = sitk.GetArrayViewFromImage(mask).dtype if isinstance(mask, sitk.Image) else np.dtype(mask)
    return dtype.itemsize if dtype.kind in "iub" else 4  # the pipeline casts other masks to uint32


def _warm_wavelet_float32():
    """The wavelet kernels in float32 too (float32 images are filtered in float32, as PyWavelets does)."""
    from .kernels.swt import swtn_level

    taps = np.ones(2, dtype=np.float32)
    swtn_level(np.zeros((2, 2, 2), dtype=np.float32), taps, taps, (2, 1, 0))


def _read_only(array):
    array.flags.writeable = False  # SimpleITK's array views are read-only: Numba compiles them apart
    return array


def _warm_statistics_types():
    """The whole-image statistics kernel for every pixel type it takes, read-only as the image views are.

    And the normalisation kernel, for crops of float64 images (read-only views) and of the others (a float64
    copy): the warm-up study's ROI is below its size threshold, and B-spline resampling normalises inside
    its own first pass.
    """
    from .kernels.imagestats import TYPES, integer_statistics, normalise

    for dtype in TYPES:
        integer_statistics(_read_only(np.zeros((2, 2, 2), dtype=dtype)))
    for volume in (np.zeros((2, 2, 2)), _read_only(np.zeros((2, 2, 2)))):
        normalise(volume, 0.0, 1.0, None, 1.0)


def _warm_log_read_only():
    """LoG on a read-only float64 volume (a float64 image's view is filtered without a copy)."""
    from .kernels.recursive_gaussian import laplacian_of_gaussian

    laplacian_of_gaussian(_read_only(np.zeros((4, 4, 4))), (1.0, 1.0, 1.0), 1.0)


#: Kernels outside the feature families, keyed by what calls them:
#: ``{key: (called(params), warm-up profile, further warm-up or None)}``. ``called`` says whether an
#: extraction with these parameters runs them; the profile runs them on the warm-up study (with firstorder,
#: the cheapest family), the further warm-up the specialisations that study's int16 voxels do not reach.
#: ``spinerad warmup`` readies them all.
PREPROCESSING_KERNELS = {
    "normalise": (
        lambda params: params.settings.normalize,
        {"setting": {"normalize": True}},
        _warm_statistics_types,
    ),
    "bspline": (
        lambda params: (
            params.settings.resampled_pixel_spacing is not None
            and params.settings.interpolator == "sitkBSpline"
        ),
        {"setting": {"resampledPixelSpacing": [1.0, 1.0, 2.0], "interpolator": "sitkBSpline"}},
        None,
    ),
    "LoG": (
        lambda params: any(name == "LoG" for name, _ in params.image_types),
        {"imageType": {"LoG": {"sigma": [1.0]}}},
        _warm_log_read_only,
    ),
    "Wavelet": (
        lambda params: any(name == "Wavelet" for name, _ in params.image_types),
        {"imageType": {"Wavelet": {}}},
        _warm_wavelet_float32,
    ),
}


#: SciPy's BLAS module, the one Numba imports to answer "is BLAS available?"
_BLAS_PROBE = "scipy.linalg.cython_blas"


def _blas_module_installed():
    """Whether SciPy's ``linalg/cython_blas`` extension is installed, found without importing ``scipy.linalg``."""
    import importlib.machinery
    import importlib.util

    try:
        spec = importlib.util.find_spec("scipy")  # a top-level name: found, not imported
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    for folder in spec.submodule_search_locations:
        finder = importlib.machinery.FileFinder(os.path.join(folder, "linalg"), loader)
        if finder.find_spec(_BLAS_PROBE) is not None:
            return True
    return False


def initialise_numba_target():
    """Initialise Numba's CPU target without importing ``scipy.linalg`` for its BLAS probe (startup cost).

    Numba's first kernel call (compiled or loaded from the cache) imports ``numba.np.arraymath``, which asks
    whether BLAS is available by importing ``scipy.linalg.cython_blas``: that imports all of ``scipy.linalg``
    and loads SciPy's own OpenBLAS, 0.1-0.16 s of a 1 s ``spinerad extract``, for kernels that never call
    BLAS (spinerad's only LAPACK user, IBSI morphology's ellipsoid, links it when it runs, as Numba always
    does). When the extension module is installed (so the probe's answer is yes either way) and no other
    Python thread runs, a placeholder stands in for it while that one import runs and is removed right after, so a later
    ``import scipy.linalg.cython_blas`` loads the real module. Numba's other check, that SciPy's BLAS integer
    width matches Numba's build (``scipy.__config__``), still runs.
    """
    if "numba.np.arraymath" in sys.modules:
        return
    import types

    # Only while this is the process's one Python thread: another thread importing the module during this
    # window would get the placeholder (the CLI, the warm-up at a server's start and a first call from a
    # script all qualify; a first call beside other threads pays the import instead).
    stand_in = threading.active_count() == 1 and _BLAS_PROBE not in sys.modules and _blas_module_installed()
    if stand_in:
        sys.modules[_BLAS_PROBE] = types.ModuleType(_BLAS_PROBE)
    try:
        import numba.np.arraymath  # noqa: F401  (what the first kernel call would import)
    finally:
        if stand_in:
            del sys.modules[_BLAS_PROBE]


def without_cffi_typing():
    """Let Numba's typing skip CFFI, for a process that runs only spinerad's kernels (``spinerad extract``).

    Numba's CPU typing context, set up when the first kernel loads, imports ``cffi`` and builds a
    ``cffi.FFI()`` to recognise CFFI functions passed to a kernel: pycparser's C grammar, ~45 ms of CPU in a
    ~0.6 s ``spinerad extract``. spinerad's kernels take arrays and numbers only. Here Numba's CFFI module
    is imported while ``import cffi`` fails, so Numba reports CFFI as unsupported for the rest of the
    process; ``cffi`` itself stays importable. Not for a library call: a user's own kernels in the same
    process may take CFFI functions. Does nothing once Numba or anyone else has imported either module.
    """
    if "numba.core.typing.cffi_utils" in sys.modules or "cffi" in sys.modules:
        return
    sys.modules["cffi"] = None  # ``import cffi`` raises ImportError while this entry is there
    try:
        import numba.core.typing.cffi_utils  # noqa: F401  (kept in sys.modules with SUPPORTED False)
    finally:
        del sys.modules["cffi"]


def cache_loads_without_registries():
    """Let a kernel loaded from Numba's cache skip loading Numba's lowering registries, for ``spinerad extract``.

    Numba's ``Cache.load_overload`` refreshes the CPU target context before every load, and the first refresh
    imports every lowering module Numba has (``numba.np.linalg``, ``arraymath``, typed containers, random,
    jitclass, ...): ~100 ms of a ~0.65 s ``spinerad extract`` on brain1, for machine code that is already
    compiled and needs none of them. A cache load rebuilds the function from its serialised library and
    environment (``CompileResult._rebuild``), which uses only the codegen and the runtime. Here a load
    initialises the runtime (what the refresh does first) and skips the rest. Nothing is lost when a kernel
    does have to compile: Numba's compiler refreshes both contexts when it starts (``CompilerBase``), and
    lowering refreshes on the first missing implementation. Process-wide: only for a process that runs
    spinerad's kernels from the cache, like :func:`without_cffi_typing`.
    """
    from numba.core import caching
    from numba.core.runtime import rtsys

    if getattr(caching.Cache.load_overload, "spinerad", False):
        return

    def load_overload(self, sig, target_context):
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload.spinerad = True
    caching.Cache.load_overload = load_overload


def _needed(params, device, mask_itemsize, ibsi):
    families = ("ibsi",) if ibsi else tuple(name for name, _ in params.feature_classes)
    keys = {(family, device) for family in families}
    if not ibsi:
        keys |= {(key, "cpu") for key, (called, _, _) in PREPROCESSING_KERNELS.items() if called(params)}
    if mask_itemsize is not None:
        keys.add(("mask", mask_itemsize))
    return keys


def ensure_compiled(params, device="cpu", mask=None, ibsi=False):
    """Compile or load, once per process, every kernel an extraction with these parameters will call.

    Parameters
    ----------
    params : spinerad.settings.ExtractionParams
        The extraction's parameters: their feature classes say which kernels are needed.
    device : {"cpu", "cuda"}
        Where the matrix kernels run (the CUDA twins compile separately).
    mask : SimpleITK.Image, numpy.dtype or None
        The study's mask (or its dtype): the ROI-location kernel is compiled once per integer item size.
    ibsi : bool
        IBSI mode.
    """
    if getattr(_local, "warming", False):  # the warm-up extraction itself
        return
    itemsize = None if mask is None else _mask_itemsize(mask)
    keys = _needed(params, device, itemsize, ibsi)
    if keys <= _ready:
        return
    with _lock:  # a threaded server: one thread compiles, the others wait for it
        missing = keys - _ready
        if missing:
            initialise_numba_target()
            _warm(missing, itemsize or 1)
            _ready.update(missing)


def _warm_study(mask_itemsize=1):
    """A small noisy image with an ellipsoid ROI: every kernel code path runs on it, in ~10 ms once loaded.

    The mask has the study's integer item size, so the warm-up loads no ROI-location specialisation (a few ms
    each) that the study itself does not use.
    """
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:10, :24, :24]
    roi = ((z - 4.5) / 4) ** 2 + ((y - 11.5) / 9) ** 2 + ((x - 11.5) / 7) ** 2 <= 1
    image = sitk.GetImageFromArray((400 + 150 * rng.standard_normal(roi.shape)).astype(np.int16))
    mask = sitk.GetImageFromArray(roi.astype(f"u{mask_itemsize}"))
    for item in (image, mask):
        item.SetSpacing((0.8, 0.8, 3.0))
    return image, mask


def _warm(keys, mask_itemsize=1):
    """Run every kernel ``keys`` name once; the warm-up study's mask has ``mask_itemsize`` bytes per voxel."""
    from .kernels import label_bounding_box
    from .pipeline import extract
    from .settings import load_params

    _local.warming = True
    try:
        for _, itemsize in sorted(k for k in keys if k[0] == "mask"):
            label_bounding_box(np.zeros((1, 1, 2), dtype=f"u{itemsize}"), 1)
        image, mask = _warm_study(mask_itemsize)
        if ("extras", "cpu") in keys:
            _warm_extras(image, mask)
        preprocessing = sorted(key for key, _ in keys if key in PREPROCESSING_KERNELS)
        if preprocessing:
            profile = {"setting": {}, "imageType": {"Original": {}}, "featureClass": {"firstorder": None}}
            for key in preprocessing:
                for section, values in PREPROCESSING_KERNELS[key][1].items():
                    profile[section].update(values)
            extract(image, mask, params=load_params(profile), device="cpu")
            for key in preprocessing:
                if PREPROCESSING_KERNELS[key][2] is not None:
                    PREPROCESSING_KERNELS[key][2]()
        by_device = {}
        for family, device in keys:
            if family not in ("mask", "extras") and family not in PREPROCESSING_KERNELS:
                by_device.setdefault(device, set()).add(family)
        for device, families in sorted(by_device.items()):
            if "ibsi" in families:
                extract(image, mask, params=load_params(None), device=device, ibsi=True)
                from .ibsi_morph import warm_kernels

                warm_kernels()
            classes = sorted(families - {"ibsi"})
            if classes:
                params = load_params({"featureClass": {name: None for name in classes}})
                extract(image, mask, params=params, device=device)
            if "glcm" in families:
                # MCC's PyRadiomics path, taken only by ROIs with a rank-deficient angle (the warm study has none)
                from .kernels.glcm import mcc_like_pyradiomics

                mcc_like_pyradiomics(np.full((1, 1, 2, 2), 0.25))
    finally:
        _local.warming = False


def _warm_extras(image, mask):
    """Kernels neither a feature family nor :data:`PREPROCESSING_KERNELS` selects (``spinerad warmup`` only).

    These are shape2D and the direct Moran/Geary pair sums.
    """
    import SimpleITK as sitk

    from .ibsi_morph import spatial_autocorrelation
    from .pipeline import extract
    from .settings import load_params

    one_slice = sitk.GetArrayFromImage(mask)
    one_slice[np.arange(one_slice.shape[0]) != one_slice.shape[0] // 2] = 0
    flat = sitk.GetImageFromArray(one_slice)
    flat.CopyInformation(mask)
    extract(
        image, flat, params=load_params({"setting": {"force2D": True}, "featureClass": {"shape2D": None}})
    )
    spatial_autocorrelation(
        np.ones((2, 2, 2), dtype=bool), np.arange(8.0).reshape(2, 2, 2), (1.0, 1.0, 1.0), method="pairs"
    )


class _CompileNote:
    """Numba event listener: one line on ``stream`` when this process starts compiling (not loading)."""

    def __init__(self, stream):
        from numba.core import event

        class Listener(event.Listener):
            def on_start(listener, event):  # noqa: N805  (numba's signature)
                self.compiling()

            def on_end(listener, event):  # noqa: N805
                pass

        self.stream = stream
        self.said = False
        self.listener = Listener()
        event.register("numba:compile", self.listener)

    def compiling(self):
        if self.said:
            return
        self.said = True
        where = cache_dir() or "nowhere: no writable cache folder, so every process compiles again"
        try:  # never let a closed or broken stream fail a compile
            print(
                f"spinerad: compiling kernels for this CPU, once, ~30 s (cached in {where}; "
                "`spinerad warmup` does this ahead of time)",
                file=self.stream or sys.stderr,
                flush=True,
            )
        except (OSError, ValueError):
            pass


_note = None


def install_compile_note(stream=None):
    """Say on ``stream`` (default stderr), once per process, when kernels compile (the CLI's note)."""
    global _note
    if _note is None:
        _note = _CompileNote(stream)  # None: whatever sys.stderr is when the note is due
    return _note


def warm_all(devices=("cpu",)):
    """Compile or load every kernel (all families, IBSI mode, every mask item size); return a summary dict."""
    from numba.core import event

    compiled = []

    class Counter(event.Listener):
        def on_start(self, event):
            pass

        def on_end(self, event):
            compiled.append(event)

    counter = Counter()
    start = time.perf_counter()
    event.register("numba:compile", counter)
    try:
        with _lock:
            keys = {(family, device) for family in ALL_FAMILIES for device in devices}
            keys |= {("mask", itemsize) for itemsize in (1, 2, 4, 8)}
            if "cpu" in devices:
                keys.add(("extras", "cpu"))
                keys |= {(key, "cpu") for key in PREPROCESSING_KERNELS}
            missing = keys - _ready
            if missing:
                initialise_numba_target()
                _warm(missing)
                _ready.update(missing)
    finally:
        event.unregister("numba:compile", counter)
    return {
        "cache_dir": cache_dir(),
        "devices": list(devices),
        "kernels_compiled": len(compiled),
        "seconds": round(time.perf_counter() - start, 3),
    }


__all__ = ["ALL_FAMILIES", "cache_dir", "ensure_compiled", "install_compile_note", "warm_all"]
