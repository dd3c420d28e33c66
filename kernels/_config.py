"""One place for the Numba options every spinerad kernel compiles with.

Tests and benchmarks patch these values (never hard-code them in a kernel):

- ``JIT``: options of serial CPU kernels (``nogil`` so a threaded server runs kernels side by side).
- ``JIT_PARALLEL``: the same plus ``parallel=True`` for kernels with a ``prange``.
- ``THREADS_PER_BLOCK``: CUDA block size; the CUDA-simulator tests lower it so many blocks run.
"""

import ctypes
import os
import sys
from pathlib import Path

JIT = {"nogil": True, "cache": True, "error_model": "numpy"}
JIT_PARALLEL = {**JIT, "parallel": True}

THREADS_PER_BLOCK = int(os.environ.get("SPINERAD_CUDA_THREADS_PER_BLOCK", "128"))


def _select_threading_layer():
    """Prefer TBB: the workqueue layer aborts under concurrent calls and OpenMP breaks forked workers.

    Numba finds ``libtbb.so.12`` only on the loader path; a pip-installed ``tbb`` puts it in
    ``<prefix>/lib``, which a virtual environment does not add. Pre-loading it by absolute path makes the
    TBB layer loadable there too. Without TBB, Numba's default choice stays in place.
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    for lib_dir in (Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"):
        candidate = lib_dir / "libtbb.so.12"
        if candidate.exists():
            try:
                ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            import numba

            numba.config.THREADING_LAYER = "tbb"
            return


_select_threading_layer()
