"""Where the per-ROI GLCM stage spends its time: the run/pair pass, the 23 features, MCC (and the GLRLM features).

``NUMBA_NUM_THREADS=1 python bench/glcm_stage.py [--case ibsi_ct_phantom] [--bin-width 25] [--repeat 50]``

The ROI of a shared case (label 1, no resampling, PyRadiomics' default ``binWidth``: the firstorder + GLCM +
GLRLM profile of ``bench/test_bench_extract.py``) is cropped to its box and discretised, then each piece of
``spinerad.features.compute_glcm`` is timed alone: ``glrlm_glcm_matrices`` (the one pass that counts the
runs and the co-occurrences of the 13 angles), ``prepare_glcm``, ``glcm_features`` and
``maximal_correlation_coefficient``, plus the whole ``compute_glcm`` and ``compute_glrlm`` on a fresh context.
Medians of ``--repeat`` calls after a warm-up call (JIT compiled or loaded from the cache); wall time and
the calling thread's CPU time are both printed (with one Numba thread the kernels run on the calling thread,
so on a busy machine its CPU time is the steadier number), with the load average.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spinerad import features, kernels, preprocess  # noqa: E402
from spinerad.kernels import glcm, glrlm  # noqa: E402
from spinerad.settings import parse_params  # noqa: E402

SHARED = Path(os.environ.get("SPINERAD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
#: name: (image, mask) below ``SHARED/data/peers`` (as ``bench/conftest.py``); every case uses label 1.
CASES = {
    "brain1": ("pyradiomics/images/brain1_image.nrrd", "pyradiomics/images/brain1_label.nrrd"),
    "lung2": ("pyradiomics/images/lung2_image.nrrd", "pyradiomics/images/lung2_label.nrrd"),
    "ibsi_ct_phantom": ("ibsi/ct_radiomics_phantom/image.nii.gz", "ibsi/ct_radiomics_phantom/mask.nii.gz"),
}


def roi_context(case, bin_width):
    """The discretised ROI of ``case`` (label 1) cropped to its box, as the pipeline hands it to the classes."""
    image_path, mask_path = (SHARED / "data" / "peers" / p for p in CASES[case])
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path))).astype(np.float64)
    mask_image = sitk.ReadImage(str(mask_path))
    in_roi = sitk.GetArrayFromImage(mask_image) == 1
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(in_roi))
    in_roi = in_roi[box]
    values = image[box][in_roi]
    _, grey_levels, compact, counts = preprocess.discretise(values, bin_width)
    levels = np.full(in_roi.shape, -1, dtype=np.int32)
    levels[in_roi] = compact
    settings = parse_params({"setting": {"label": 1, "binWidth": bin_width}}).settings
    return features.RoiContext(
        values=values,
        levels=levels,
        grey_levels=grey_levels,
        level_counts=counts,
        spacing_zyx=tuple(mask_image.GetSpacing()[::-1]),
        shape_mask=in_roi,
        settings=settings,
        share=frozenset({"runs"}),
    )


def timed(fn, repeat):
    """Median wall and calling-thread CPU milliseconds of ``fn()`` over ``repeat`` calls after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return round(statistics.median(wall) * 1e3, 3), round(statistics.median(cpu) * 1e3, 3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="ibsi_ct_phantom", choices=sorted(CASES))
    parser.add_argument("--bin-width", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)

    ctx = roi_context(args.case, args.bin_width)
    names = list(glcm.FEATURE_NAMES) + [glcm.MCC_NAME]
    angles = kernels.generate_angles(ctx.levels.shape, (1,))
    n_levels = len(ctx.grey_levels)
    _, counts = glrlm.glrlm_glcm_matrices(ctx.levels, angles, n_levels)
    p = glcm.prepare_glcm(counts, True)

    def fresh():
        return features.RoiContext(**{**ctx.__dict__, "_shared": {}})

    def both_classes():
        context = fresh()
        features.compute_glcm(context, names)
        features.compute_glrlm(context, list(glrlm.FEATURE_NAMES))

    pieces = {
        "run_pair_pass": lambda: glrlm.glrlm_glcm_matrices(ctx.levels, angles, n_levels),
        "prepare_glcm": lambda: glcm.prepare_glcm(counts, True),
        "glcm_features": lambda: glcm.glcm_features(p, ctx.grey_levels, ctx.ng_max, False, True),
        "mcc": lambda: glcm.maximal_correlation_coefficient(p),
        "compute_glcm": lambda: features.compute_glcm(fresh(), names),
        "compute_glcm_and_glrlm": both_classes,
    }
    row = {
        "case": args.case,
        "roi_voxels": int((ctx.levels >= 0).sum()),
        "grey_levels": n_levels,
        "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", "0")) or None,
        "load_average": os.getloadavg(),
    }
    for name, fn in pieces.items():
        row[f"{name}_ms_wall"], row[f"{name}_ms_thread_cpu"] = timed(fn, args.repeat)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
