"""Feature-map speed: voxels per second of spinerad's voxel-wise maps vs PyRadiomics 3.0.1's voxel mode.

``python bench/voxel_maps.py [--sizes 500 5000 50000] [--radii 1 2] [--pyradiomics-max 500] [--per-class]
[--materialise]``

The full texture set (firstorder + glcm + glrlm + glszm + gldm + ngtdm, every non-deprecated feature,
binWidth 25, Original image, maskedKernel) on lung2 (CT, 512 x 512 x 61) with ball-shaped ROIs of about
500, 5,000 and 50,000 voxels around the centre of its tumour. PyRadiomics runs (its default voxelBatch,
i.e. all voxels in one batch) only on the sizes up to ``--pyradiomics-max``: it is too slow for more.
spinerad is warmed (JIT compiled or loaded from the cache) before it is timed; both are timed end to end
(``feature_maps`` / ``execute(voxelBased=True)`` from in-memory SimpleITK images: preprocessing,
discretisation, kernels, map assembly). Medians of ``--repeat`` runs for spinerad, one run for PyRadiomics.
Wall time and process CPU time (all threads) are both reported: on a shared machine the wall-time ratio
depends on how many cores each side actually got; the load average is printed with every row.
``spinerad_kernels_voxels_per_s`` counts the six classes' kernel calls alone: on small ROIs the end-to-end
time also holds work that does not depend on the ROI (the scan of the whole 16-million-voxel mask, ~1.5 ms).
``feature_maps`` returns the maps as a mapping whose SimpleITK images are built when read (PyRadiomics'
``execute`` builds all of them); ``--materialise`` also reads every map's image inside the timed region
(``spinerad_with_images_*`` columns), the cost a caller pays who wants them all. ``--per-class`` adds each
class's median kernel milliseconds (``ms_<class>``) and the stages outside the kernels. Larger ROIs are
compared with PyRadiomics' rate on the smallest (``speedup_vs_pyradiomics_smallest``).
"""

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spinerad.voxel as voxel_maps  # noqa: E402
from spinerad.pipeline import StageTimer  # noqa: E402

SHARED = Path(os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def ball_mask(mask, n_voxels):
    """A ball ROI of about ``n_voxels`` voxels (voxel units) centred on the case's ROI centre."""
    array = sitk.GetArrayFromImage(mask)
    centre = np.argwhere(array == 1).mean(axis=0)
    radius = (3 * n_voxels / (4 * np.pi)) ** (1 / 3)
    zz, yy, xx = np.ogrid[: array.shape[0], : array.shape[1], : array.shape[2]]
    ball = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= radius**2
    out = sitk.GetImageFromArray(ball.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def params(radius):
    return {
        "setting": {"binWidth": 25},
        "imageType": {"Original": {}},
        "featureClass": {c: [] for c in CLASSES},
        "voxelSetting": {"kernelRadius": radius},
    }


def time_spinerad(image, mask, p, repeat, materialise=False):
    """Medians of (wall s, CPU s, kernel s, {stage: ms}) and the number of maps."""
    times = []
    cpu = []
    kernels = []
    stages = []
    for _ in range(repeat):
        timer = StageTimer()
        start = time.perf_counter()
        start_cpu = time.process_time()
        maps = voxel_maps.feature_maps(image, mask, p, timer=timer)
        if materialise:
            for name in maps:
                maps[name]
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        kernels.append(sum(timer.ms.get(c, 0.0) for c in CLASSES) / 1e3)
        stages.append(timer.ms)
    stage_ms = {k: round(statistics.median(s.get(k, 0.0) for s in stages), 3) for k in stages[0]}
    return statistics.median(times), statistics.median(cpu), statistics.median(kernels), stage_ms, len(maps)


def time_pyradiomics(image, mask, p):
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(p)
    start = time.perf_counter()
    start_cpu = time.process_time()
    result = extractor.execute(image, mask, voxelBased=True)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    return elapsed, cpu, sum(isinstance(v, sitk.Image) for v in result.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 50000])
    parser.add_argument("--radii", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pyradiomics-max", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-class", action="store_true", help="median ms of each class's kernels")
    parser.add_argument("--materialise", action="store_true", help="also time building every map's image")
    args = parser.parse_args()
    folder = SHARED / "data" / "peers" / "pyradiomics" / "images"
    image = sitk.ReadImage(str(folder / "lung2_image.nrrd"))
    mask = sitk.ReadImage(str(folder / "lung2_label.nrrd"))
    # warm the JIT (compile or load the cache) on a tiny ROI, untimed
    voxel_maps.feature_maps(image, ball_mask(mask, 30), params(1))
    voxel_maps.feature_maps(image, ball_mask(mask, 30), params(2))
    rows = []
    reference_rate = {}  # kernel radius -> PyRadiomics' voxels/s on the smallest ROI
    for size in args.sizes:
        roi = ball_mask(mask, size)
        n = int(np.sum(sitk.GetArrayFromImage(roi)))
        for radius in args.radii:
            p = params(radius)
            seconds, cpu, kernel_seconds, stage_ms, n_maps = time_spinerad(image, roi, p, args.repeat)
            row = {
                "roi_voxels": n,
                "kernel_radius": radius,
                "maps": n_maps,
                "spinerad_s": round(seconds, 3),
                "spinerad_cpu_s": round(cpu, 3),
                "spinerad_voxels_per_s": round(n / seconds, 1),
                # the six classes' kernel calls alone (no intake of the whole volume, no map assembly)
                "spinerad_kernels_voxels_per_s": round(n / kernel_seconds, 1),
            }
            if args.per_class:
                row.update({f"ms_{stage}": ms for stage, ms in stage_ms.items()})
            if args.materialise:
                with_images, _, _, _, _ = time_spinerad(image, roi, p, args.repeat, materialise=True)
                row["spinerad_with_images_s"] = round(with_images, 3)
                row["spinerad_with_images_voxels_per_s"] = round(n / with_images, 1)
            if size <= args.pyradiomics_max:
                ref_seconds, ref_cpu, ref_maps = time_pyradiomics(image, roi, p)
                assert ref_maps == n_maps, (ref_maps, n_maps)
                row.update(
                    pyradiomics_s=round(ref_seconds, 3),
                    pyradiomics_cpu_s=round(ref_cpu, 3),
                    pyradiomics_voxels_per_s=round(n / ref_seconds, 2),
                    speedup=round(ref_seconds / seconds, 1),
                    cpu_time_ratio=round(ref_cpu / cpu, 1),
                )
                reference_rate[radius] = n / ref_seconds
            elif radius in reference_rate:
                # PyRadiomics' rate barely changes with the ROI size (per-voxel work dominates it): compare
                # with its rate on the smallest ROI, as the table does
                row["speedup_vs_pyradiomics_smallest"] = round(n / seconds / reference_rate[radius], 1)
            row["load_average"] = os.getloadavg()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "peak_rss_mib": round(peak, 1),
                "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", 0)) or os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
