"""Per-class kernel time of the feature maps: seconds per class (kernel calls only), medians of repeats.

``python bench/voxel_class_times.py [--classes glrlm glszm gldm] [--sizes 500 50000] [--radii 1 2]``

Same case and ROIs as :mod:`bench.voxel_maps` (lung2, ball ROIs around its tumour's centre, binWidth 25,
Original image, maskedKernel); each class alone, warmed first, timed by the pipeline's ``StageTimer``
(the class's kernel calls, no intake or map assembly). Prints one JSON row per (size, radius, class)
with the load average.
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spinerad.voxel as voxel_maps  # noqa: E402
from bench.voxel_maps import SHARED, ball_mask  # noqa: E402
from spinerad.pipeline import StageTimer  # noqa: E402


def params(class_name, radius):
    return {
        "setting": {"binWidth": 25},
        "imageType": {"Original": {}},
        "featureClass": {class_name: []},
        "voxelSetting": {"kernelRadius": radius},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", nargs="+", default=["glrlm", "glszm", "gldm"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 50000])
    parser.add_argument("--radii", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = SHARED / "data" / "peers" / "pyradiomics" / "images"
    image = sitk.ReadImage(str(folder / "lung2_image.nrrd"))
    mask = sitk.ReadImage(str(folder / "lung2_label.nrrd"))
    for class_name in args.classes:
        for radius in args.radii:
            voxel_maps.feature_maps(image, ball_mask(mask, 30), params(class_name, radius))
    for size in args.sizes:
        roi = ball_mask(mask, size)
        n = int(np.sum(sitk.GetArrayFromImage(roi)))
        for radius in args.radii:
            for class_name in args.classes:
                seconds = []
                for _ in range(args.repeat):
                    timer = StageTimer()
                    voxel_maps.feature_maps(image, roi, params(class_name, radius), timer=timer)
                    seconds.append(timer.ms.get(class_name, 0.0) / 1e3)
                s = statistics.median(seconds)
                row = {
                    "roi_voxels": n,
                    "kernel_radius": radius,
                    "class": class_name,
                    "kernel_s": round(s, 4),
                    "voxels_per_s": round(n / s, 1),
                    "load_average": os.getloadavg()[0],
                }
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
