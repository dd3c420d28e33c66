"""One place for the Numba options every spinerad kernel compiles with.

Tests and benchmarks patch these values (never hard-code them in a kernel):

- ``JIT``: options of serial CPU kernels (``nogil`` so a threaded server runs kernels side by side).
- ``JIT_PARALLEL``: the same plus ``parallel=True`` for kernels with a ``prange``.
- ``THREADS_PER_BLOCK``: CUDA block size; the CUDA-simulator tests lower it so many blocks run.
- ``CACHE_DIR``: where compiled kernels are cached (``$NUMBA_CACHE_DIR`` when set, else a per-user folder).
"""

import ctypes
import os
import sys
import tempfile
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


def user_cache_dir():
    """The per-user kernel cache: ``$XDG_CACHE_HOME/spinerad/numba``, else ``~/.cache/spinerad/numba``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "spinerad", "numba")


def _writable(folder, private=False):
    """Whether ``folder`` exists (made if need be) and takes files.

    ``private``: for a folder in the shared temporary directory, also require that it is ours and closed to
    others: Numba's cache holds code it will run, so another user must not be able to plant it.
    """
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        if private and hasattr(os, "getuid"):
            status = os.stat(folder)
            if status.st_uid != os.getuid() or status.st_mode & 0o022:
                return False
    except OSError:
        return False
    return True


def _select_cache_dir():
    """Point Numba's cache at a per-user folder before any kernel is decorated; return the folder or None.

    Without ``NUMBA_CACHE_DIR`` Numba writes its cache beside the source, into the installed package's
    ``kernels/__pycache__``: files pip does not own, which survive ``pip uninstall`` and turn the leftover
    ``site-packages/spinerad`` into a namespace package that hides a later editable install. Numba chooses
    the folder when a ``@njit(cache=True)`` function is decorated (``numba.config.CACHE_DIR``), so this runs
    when this module is imported, which every kernel module does first. A ``NUMBA_CACHE_DIR`` the user set is
    kept if it is writable (Numba would otherwise fall back into the package). With no writable folder at
    all, caching is switched off rather than written into the package.
    """
    uid = getattr(os, "getuid", lambda: "user")()
    candidates = (
        (os.environ.get("NUMBA_CACHE_DIR"), False),
        (user_cache_dir(), False),
        (os.path.join(tempfile.gettempdir(), f"spinerad-numba-{uid}"), True),
    )
    chosen = next((folder for folder, private in candidates if folder and _writable(folder, private)), None)
    if chosen is None:
        JIT["cache"] = JIT_PARALLEL["cache"] = False
        return None
    # In the environment too, so Dask workers and other child processes share the same cache. Numba re-reads
    # its whole configuration from the environment at the next compilation once the environment changed,
    # which would reset settings made in code (the threading layer below): reload it now, while nothing has
    # been set in code yet, so that later reloads see no change.
    os.environ["NUMBA_CACHE_DIR"] = chosen
    import numba
    from numba.core import config

    config.reload_config()
    numba.config.CACHE_DIR = chosen
    return chosen


CACHE_DIR = _select_cache_dir()
_select_threading_layer()
