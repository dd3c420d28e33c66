"""The extraction's worker threads: one pool per process, each worker running its kernels on one Numba thread.

:func:`spinerad.pipeline.extract` runs a study's feature classes (and, for profiles with filtered image
types, its filters) as tasks on this pool; the IBSI mode runs morphology beside the texture families on it.
"""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

_EXECUTOR = None
_EXECUTOR_WORKERS = 0
_EXECUTOR_PID = 0
_EXECUTOR_LOCK = threading.Lock()


#: Fewer ROI voxels than this: the classes run one after the other in the caller's thread, each kernel
#: spread over Numba's threads, instead of side by side on the worker pool (unless SPINERAD_EXTRACT_THREADS
#: asks for workers). Two Python workers share the GIL: a class is kernels joined by NumPy and Python
#: glue (on brain1 ~45 % of a 5 ms extraction holds the GIL), and with little kernel time to overlap, the
#: workers mostly wait for each other. Measured on 2 cores (in-process medians, ms, pool vs in line):
#: full default brain1 (4,137 voxels) 4.9 vs 4.35, exampleMR_3mm brain1 (1,915) 41.5 vs 31.0, exampleMR_3mm
#: lung2 (6,036) 56.8 vs 50.4; full default lung2 (24,644) 7.7 vs 8.3, exampleMR_3mm CT phantom (45,107) 98
#: vs 114, full default CT phantom (125,256) 18.0 vs 21.9.
POOL_MIN_ROI_VOXELS = 12_000


def class_runner(roi, device):
    """``run(fn, *args) -> Future`` for the feature classes of this ROI: the worker pool, or in line.

    CUDA runs in line: the device serialises the kernels anyway, and Numba's CUDA simulator (the CI's GPU)
    swaps module globals while a kernel runs, so two threads' launches break each other there. A small ROI
    runs in line too (see :data:`POOL_MIN_ROI_VOXELS`), unless ``SPINERAD_EXTRACT_THREADS`` is set.
    """
    if device != "cpu":
        return run_inline
    if roi.values.size < POOL_MIN_ROI_VOXELS and not os.environ.get("SPINERAD_EXTRACT_THREADS"):
        return run_inline
    return submitter()


def extract_threads():
    """Worker threads :func:`extract` runs feature classes on: ``SPINERAD_EXTRACT_THREADS``, else Numba's count.

    One thread runs everything in the caller's thread, in order.
    """
    configured = os.environ.get("SPINERAD_EXTRACT_THREADS")
    if configured:
        return max(1, int(configured))
    import numba

    return numba.get_num_threads()


def submitter():
    """``submit(fn, *args) -> Future``: the shared worker pool, or in-line when one thread is configured.

    One pool serves every extraction of the process (a server's concurrent studies share it): each task
    depends only on tasks submitted before it, so first-in-first-out workers never wait on queued work.
    """
    global _EXECUTOR, _EXECUTOR_WORKERS, _EXECUTOR_PID
    workers = extract_threads()
    if workers <= 1:
        return run_inline
    with _EXECUTOR_LOCK:
        # A forked child inherits the pool object but not its threads: it needs its own pool.
        if _EXECUTOR is None or _EXECUTOR_WORKERS != workers or _EXECUTOR_PID != os.getpid():
            _EXECUTOR = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="spinerad-extract", initializer=_one_kernel_thread
            )
            _EXECUTOR_WORKERS, _EXECUTOR_PID = workers, os.getpid()
        return _EXECUTOR.submit


def _one_kernel_thread():
    """Each extraction worker runs its kernels on one Numba thread (``numba.set_num_threads`` is per thread).

    The workers are the parallelism: ``extract_threads()`` of them already fill the cores. Were each worker's
    ``prange`` kernels to fan out over Numba's pool too, workers x Numba threads would compete for the cores:
    a woken worker waited behind another's kernel threads (brain1, 2 cores: the second worker started its
    first class 2.5 ms into a 4.6 ms extraction). The caller's own thread keeps Numba's count for the steps it
    runs before the workers start (the mask scan, resampling, the filters).
    """
    import numba

    numba.set_num_threads(1)


def run_inline(fn, *args):
    """Run ``fn(*args)`` now, in this thread; its result or error in a done :class:`Future`."""
    future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # re-raised by future.result(), in the caller's order
        future.set_exception(exc)
    return future
