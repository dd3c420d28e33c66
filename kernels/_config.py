"""One place for the Numba options every spinerad kernel compiles with.

Tests and benchmarks patch these values (never hard-code them in a kernel):

- ``JIT``: options of serial CPU kernels (``nogil`` so a threaded server runs kernels side by side).
- ``JIT_PARALLEL``: the same plus ``parallel=True`` for kernels with a ``prange``.
- ``THREADS_PER_BLOCK``: CUDA block size; the CUDA-simulator tests lower it so many blocks run.
- ``CACHE_DIR``: where compiled kernels are cached: a folder named by :func:`source_tag` inside
  ``$NUMBA_CACHE_DIR`` when set, else inside a per-user folder.
"""

import ctypes
import hashlib
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


def source_tag(folder=None):
    """``src-`` + a digest of every kernel module's source: the name of the cache folder for this code.

    Numba keys a cached kernel on its own file's modification time and size only: a kernel whose callee in
    another module changed (``glcm_formulas`` under ``voxel_glcm``, say) would load the old machine code
    from the cache and run the old formula. A folder per version of the kernels' sources makes every edit,
    checkout or upgrade start from an empty cache instead. Reading and hashing the ~300 KB takes ~1 ms.
    """
    digest = hashlib.sha256()
    folder = Path(folder) if folder else Path(__file__).resolve().parent
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:16]


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
    tag = source_tag()
    candidates = (
        (os.environ.get("NUMBA_CACHE_DIR"), False),
        (user_cache_dir(), False),
        (os.path.join(tempfile.gettempdir(), f"spinerad-numba-{uid}"), True),
    )
    chosen = next(
        (
            _tagged(folder, tag)
            for folder, private in candidates
            # a private base too: whoever owns a temporary folder's parent could swap its contents
            if folder and _writable(folder, private) and _writable(_tagged(folder, tag), private)
        ),
        None,
    )
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


def _tagged(folder, tag):
    """``folder/tag``; a folder a parent process already tagged (exported to its children) is kept."""
    return folder if os.path.basename(os.path.normpath(folder)) == tag else os.path.join(folder, tag)


CACHE_DIR = _select_cache_dir()
_select_threading_layer()
