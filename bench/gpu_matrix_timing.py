"""CPU vs CUDA texture-matrix kernels (GLCM, GLRLM): milliseconds and voxel-angle pairs per second.

A plain script, not a pytest file (it needs a GPU, which the benchmark suite cannot assume)::

    python bench/gpu_matrix_timing.py                       # synthetic ROIs + lung1/lung2 if found
    python bench/gpu_matrix_timing.py --roi lung=levels.npz # extra ROI: npz with ``levels`` and ``n_levels``

Cases: a 256x256x64 all-ROI box with 64 grey levels drawn independently per voxel (few collisions in
the atomics: the easy case for a GPU histogram), the same box with spatially smooth levels (neighbours
mostly share a level: the hard case), and the lung ROIs of the PyRadiomics test data discretised with
binWidth 25 as the pipeline does (found under ``$SPINERAD_SHARED``, or given with ``--roi``).

For each case and kernel it reports the median of ``--repeats`` timed calls after one untimed warm-up
call per variant (JIT compilation excluded):

- ``cpu``: the Numba CPU kernel (``glcm_matrix`` / ``glrlm_matrix``), all Numba threads;
- ``cuda``: the public CUDA wrapper, host array in, host array out (validation, transfers and the
  float64 conversion included);
- ``kernel:<variant>``: the kernel alone on arrays already on the device, timed with CUDA events.

Throughput is voxel-angle pairs per second: ROI voxels x angles / time (each ROI voxel is visited once
per angle by both kernels). Every variant's counts are checked equal to the CPU's before timing.
"""

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from numba import cuda, get_num_threads

from spinerad.kernels import _config, generate_angles, gpu_glcm
from spinerad.kernels.glcm import glcm_matrix
from spinerad.kernels.glrlm import glrlm_matrix
from spinerad.kernels.gpu_glcm import _glcm_on_device, gpu_glcm_matrix
from spinerad.kernels.gpu_glrlm import _glrlm_on_device, _line_start_counts, gpu_glrlm_matrix

SHARED = Path(os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
LUNG_CASES = ("lung1", "lung2")
DEFAULT_BLOCKS_PER_MULTIPROCESSOR = gpu_glcm.BLOCKS_PER_MULTIPROCESSOR


def uniform_roi(shape=(64, 256, 256), n_levels=64, seed=20240601):
    """All-ROI box, levels drawn independently per voxel."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_levels, size=shape, dtype=np.int32), n_levels


def smooth_roi(shape=(64, 256, 256), n_levels=64, seed=20240602, width=9):
    """All-ROI box of box-filtered noise quantised to ``n_levels`` equally populated levels."""
    rng = np.random.default_rng(seed)
    field = rng.random(shape)
    for axis in range(3):
        # Moving sum over ``width`` voxels by a cumulative sum: a separable box filter without SciPy.
        c = np.cumsum(field, axis=axis)
        n = c.shape[axis]
        w = min(width, n)
        lead = np.take(c, range(w, n), axis=axis) - np.take(c, range(n - w), axis=axis)
        field = np.concatenate([np.take(c, range(w), axis=axis), lead], axis=axis)
    edges = np.quantile(field, np.linspace(0, 1, n_levels + 1)[1:-1])
    return np.digitize(field, edges).astype(np.int32), n_levels


def lung_roi(name):
    """Crop and discretise a PyRadiomics lung case as the pipeline does (label 1, binWidth 25), or None."""
    image_path = SHARED / "data" / "peers" / "pyradiomics" / "images" / f"{name}_image.nrrd"
    mask_path = image_path.with_name(f"{name}_label.nrrd")
    if not (image_path.exists() and mask_path.exists()):
        return None
    import SimpleITK as sitk

    from spinerad import preprocess

    image = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path)))
    in_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path))) == 1
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(in_mask))
    in_roi = in_mask[box]
    _, grey_levels, compact, _ = preprocess.discretise(image[box][in_roi], 25)
    levels = np.full(in_roi.shape, -1, dtype=np.int32)
    levels[in_roi] = compact
    return levels, len(grey_levels)


def median_ms(fn, repeats):
    """Median wall time of ``fn()`` in ms after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def median_event_ms(launch, reset, repeats):
    """Median device time of ``launch()`` in ms (CUDA events); ``reset()`` runs untimed before each."""
    reset()
    launch()
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        reset()
        start, end = cuda.event(), cuda.event()
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def glcm_variants(levels, angles, n_levels):
    """Kernel-only GLCM launches: shared-memory histograms (several grid sizes) and global atomics."""
    d_levels, d_angles = cuda.to_device(levels), cuda.to_device(angles)
    zeros = np.zeros((len(angles), n_levels, n_levels), dtype=np.uint32)
    out = cuda.to_device(zeros)

    def launch_with(method, blocks_per_sm=None):
        def launch():
            if blocks_per_sm is not None:
                gpu_glcm.BLOCKS_PER_MULTIPROCESSOR = blocks_per_sm
            _glcm_on_device(d_levels, d_angles, n_levels, out, method=method)

        return launch

    variants = {"global": launch_with("global")}
    if n_levels * n_levels * 4 <= gpu_glcm.SHARED_HISTOGRAM_BYTES:
        for blocks in (4, 8, 16, 32):
            variants[f"shared/{blocks}"] = launch_with("shared", blocks)
    return variants, out, lambda: out.copy_to_device(zeros)


def glrlm_variants(levels, angles, n_levels):
    """Kernel-only GLRLM launch (one variant: line per thread, global atomics)."""
    d_levels, d_angles = cuda.to_device(levels), cuda.to_device(angles)
    zeros = np.zeros((len(angles), n_levels, max(levels.shape)), dtype=np.uint32)
    flags = np.zeros(len(angles), dtype=np.uint8)
    out, several = cuda.to_device(zeros), cuda.to_device(flags)
    max_starts = int(_line_start_counts(levels.shape, angles).max())

    def reset():
        out.copy_to_device(zeros)
        several.copy_to_device(flags)

    def launch():
        _glrlm_on_device(d_levels, d_angles, out, several, max_starts)

    def result():
        counts = out.copy_to_host().astype(np.float64)
        counts[several.copy_to_host() == 0] = 0.0
        return counts

    return {"lines": launch}, result, reset


def bench_case(name, levels, n_levels, repeats):
    """Time both kernels on one ROI and print one row per (kernel, variant)."""
    angles = generate_angles(levels.shape, (1,))
    n_roi = int(np.count_nonzero(levels >= 0))
    pairs = n_roi * len(angles)
    print(f"\n{name}: box {levels.shape}, {n_roi} in ROI, Ng={n_levels}, {len(angles)} angles, {pairs} pairs")
    rows = []
    for kernel, cpu_fn, gpu_fn in (
        ("glcm", glcm_matrix, gpu_glcm_matrix),
        ("glrlm", glrlm_matrix, gpu_glrlm_matrix),
    ):
        expected = cpu_fn(levels, angles, n_levels)
        assert np.array_equal(gpu_fn(levels, angles, n_levels), expected), f"{kernel}: cuda != cpu"
        cpu_ms = median_ms(lambda f=cpu_fn: f(levels, angles, n_levels), repeats)
        rows.append((kernel, "cpu", cpu_ms))
        rows.append(
            (
                kernel,
                "cuda (transfers incl.)",
                median_ms(lambda f=gpu_fn: f(levels, angles, n_levels), repeats),
            )
        )
        if kernel == "glcm":
            variants, out, reset = glcm_variants(levels, angles, n_levels)
            for variant, launch in variants.items():
                reset()
                launch()
                assert np.array_equal(out.copy_to_host(), expected), f"glcm {variant}: cuda != cpu"
                rows.append((kernel, f"kernel:{variant}", median_event_ms(launch, reset, repeats)))
            gpu_glcm.BLOCKS_PER_MULTIPROCESSOR = DEFAULT_BLOCKS_PER_MULTIPROCESSOR
        else:
            variants, result, reset = glrlm_variants(levels, angles, n_levels)
            for variant, launch in variants.items():
                reset()
                launch()
                assert np.array_equal(result(), expected), f"glrlm {variant}: cuda != cpu"
                rows.append((kernel, f"kernel:{variant}", median_event_ms(launch, reset, repeats)))
        for k, variant, ms in rows:
            if k == kernel:
                print(
                    f"  {kernel:5s} {variant:24s} {ms:10.3f} ms  {pairs / ms * 1e3:10.3e} pairs/s"
                    f"  cpu/this {cpu_ms / ms:8.1f}x"
                )
    return rows


def main():
    """Parse the options, build the ROIs and print the timing table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per variant (median reported)")
    parser.add_argument(
        "--roi", action="append", default=[], metavar="NAME=NPZ", help="extra ROI (levels, n_levels)"
    )
    parser.add_argument(
        "--small", action="store_true", help="tiny synthetic boxes, no lung cases (smoke test)"
    )
    parser.add_argument(
        "--save-rois", metavar="DIR", help="write the lung ROIs found as DIR/<name>.npz and exit"
    )
    args = parser.parse_args()

    if args.save_rois:
        for lung in LUNG_CASES:
            roi = lung_roi(lung)
            if roi is not None:
                Path(args.save_rois).mkdir(parents=True, exist_ok=True)
                np.savez_compressed(Path(args.save_rois) / f"{lung}.npz", levels=roi[0], n_levels=roi[1])
        return

    from spinerad.kernels._cuda import require_cuda

    require_cuda()
    try:
        from numba.cuda.core.errors import NumbaPerformanceWarning
    except ImportError:
        from numba.core.errors import NumbaPerformanceWarning
    # The small lung ROIs launch fewer blocks than numba-cuda's occupancy advice asks for; that is the point.
    warnings.simplefilter("ignore", NumbaPerformanceWarning)
    device = cuda.get_current_device()
    name = getattr(device, "name", "CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else name
    print(
        f"device: {name}; CPU kernels on {get_num_threads()} Numba threads; "
        f"THREADS_PER_BLOCK={_config.THREADS_PER_BLOCK}; repeats={args.repeats}"
    )

    shape = (3, 6, 8) if args.small else (64, 256, 256)
    cases = {
        f"uniform {shape[2]}x{shape[1]}x{shape[0]} Ng=64": uniform_roi(shape),
        f"smooth {shape[2]}x{shape[1]}x{shape[0]} Ng=64": smooth_roi(shape),
    }
    for lung in () if args.small else LUNG_CASES:
        roi = lung_roi(lung)
        if roi is not None:
            cases[lung] = roi
    for spec in args.roi:
        roi_name, path = spec.split("=", 1)
        data = np.load(path)
        cases[roi_name] = (data["levels"].astype(np.int32), int(data["n_levels"]))
    for case_name, (levels, n_levels) in cases.items():
        bench_case(case_name, levels, n_levels, args.repeats)


if __name__ == "__main__":
    main()
