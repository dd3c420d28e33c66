"""How an extraction spreads over its worker threads (behaviour, never timing)."""

import threading

import numba
import numpy as np
import pytest

from spinerad import pipeline, workers


@pytest.fixture
def two_workers(monkeypatch):
    """A real pool of two extraction workers, also on a one-core machine."""
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")
    return workers.submitter()


def test_workers_run_kernels_on_one_numba_thread(two_workers):
    """The workers are the parallelism: a worker's prange kernels do not fan out over Numba's pool as well."""
    caller = numba.get_num_threads()
    seen = {two_workers(numba.get_num_threads).result() for _ in range(8)}
    assert seen == {1}
    assert numba.get_num_threads() == caller  # the caller's own count is left as it was


def test_two_workers_run_side_by_side(two_workers):
    """Two tasks submitted together run at the same time (each waits for the other to start)."""
    barrier = threading.Barrier(2, timeout=60)

    def meet():
        barrier.wait()
        return threading.current_thread().name

    first, second = two_workers(meet), two_workers(meet)
    names = {first.result(), second.result()}
    assert len(names) == 2 and all(name.startswith("spinerad-extract") for name in names)


def test_extraction_values_do_not_depend_on_the_workers(monkeypatch):
    """Inline (one thread) and two workers give the very same feature values."""
    import SimpleITK as sitk

    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:9, :20, :22]
    roi = ((z - 4) / 4) ** 2 + ((y - 9.5) / 8) ** 2 + ((x - 10.5) / 9) ** 2 <= 1
    image = sitk.GetImageFromArray(rng.integers(0, 400, roi.shape).astype(np.int16))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    params = {"setting": {"binWidth": 25}}  # every class
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "1")
    inline = pipeline.extract(image, mask, params=params)
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")
    pooled = pipeline.extract(image, mask, params=params)
    assert list(pooled) == list(inline)
    np.testing.assert_allclose(list(pooled.values()), list(inline.values()), rtol=1e-12, atol=0)


def _runs_on(runner):
    """The name of the thread a runner runs a task on."""
    return runner(lambda: threading.current_thread().name).result()


def test_small_rois_run_in_line_large_ones_on_the_pool(monkeypatch):
    """Below POOL_MIN_ROI_VOXELS the classes run in the caller's thread; from it on, on the workers."""
    from types import SimpleNamespace

    monkeypatch.delenv("SPINERAD_EXTRACT_THREADS", raising=False)
    monkeypatch.setattr(workers, "extract_threads", lambda: 2)  # two cores' worth, on any machine
    here = threading.current_thread().name
    small = SimpleNamespace(values=np.zeros(workers.POOL_MIN_ROI_VOXELS - 1))
    large = SimpleNamespace(values=np.zeros(workers.POOL_MIN_ROI_VOXELS))
    assert _runs_on(workers.class_runner(small, "cpu")) == here
    assert _runs_on(workers.class_runner(large, "cpu")).startswith("spinerad-extract")
    assert _runs_on(workers.class_runner(large, "cuda")) == here
    # an explicit worker count is obeyed whatever the size
    monkeypatch.setenv("SPINERAD_EXTRACT_THREADS", "2")
    assert _runs_on(workers.class_runner(small, "cpu")).startswith("spinerad-extract")
