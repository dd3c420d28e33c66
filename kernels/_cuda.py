"""The one place that decides whether CUDA kernels can run, and says why not when they cannot."""

import functools


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason():
    """None when numba-cuda can launch kernels here (a GPU or the simulator), else a one-line reason."""
    try:
        from numba import cuda
    except ImportError:
        return "numba's CUDA target is not installed (pip install 'spinerad[cuda]')"
    try:
        if cuda.is_available():
            return None
    except Exception as exc:  # the driver probe itself can fail on a broken install
        return f"the CUDA driver could not be initialised ({type(exc).__name__})"
    return "no CUDA GPU or driver was found (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)"


def require_cuda():
    """Raise RuntimeError with the reason when CUDA kernels cannot run."""
    reason = cuda_unavailable_reason()
    if reason:
        raise RuntimeError(f"CUDA kernels unavailable: {reason}")
