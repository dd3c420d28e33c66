"""A small synthetic spine MRI study (image + lesion mask) so the quick start runs without any patient data.

The volume is a T1-weighted-like sagittal stack: a vertebral body (elliptic cylinder of fatty marrow,
bright, with trabecular texture from smoothed noise) in darker soft tissue, and a lytic lesion (a
hypointense ellipsoid with coarser texture) inside it. Everything is drawn from a seeded NumPy generator,
so the same seed gives the same files. It is *simulated*: not for any clinical use.
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

SHAPE_ZYX = (16, 96, 96)
SPACING_XYZ = (0.8, 0.8, 3.0)


def _smooth_noise(rng, shape, sigma_vox):
    noise = sitk.GetImageFromArray(rng.standard_normal(shape))
    smoothed = sitk.SmoothingRecursiveGaussian(noise, sigma_vox)
    array = sitk.GetArrayFromImage(smoothed)
    return array / (array.std() + 1e-12)


def make_sample_study(seed=0):
    """Return (image, mask) SimpleITK images of the synthetic study."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in SHAPE_ZYX), indexing="ij")
    cz, cy, cx = (n / 2 for n in SHAPE_ZYX)
    body = ((y - cy) / 30.0) ** 2 + ((x - cx) / 24.0) ** 2 <= 1.0
    lesion = ((z - cz) / 4.5) ** 2 + ((y - cy - 4) / 12.0) ** 2 + ((x - cx + 3) / 10.0) ** 2 <= 1.0
    image = 300 + 40 * _smooth_noise(rng, SHAPE_ZYX, 2.0)
    image[body] = 900 + 120 * _smooth_noise(rng, SHAPE_ZYX, 1.0)[body]
    image[lesion] = 450 + 150 * _smooth_noise(rng, SHAPE_ZYX, 1.8)[lesion]
    image += rng.normal(0, 25, SHAPE_ZYX)
    image_itk = sitk.GetImageFromArray(np.clip(image, 0, 4095).astype(np.int16))
    mask_itk = sitk.GetImageFromArray(lesion.astype(np.uint8))
    for item in (image_itk, mask_itk):
        item.SetSpacing(SPACING_XYZ)
        item.SetOrigin((-38.4, -38.4, -24.0))
    return image_itk, mask_itk


def write_sample_study(outdir, seed=0):
    """Write ``image.nrrd`` and ``mask.nrrd`` (label 1 = lesion) into ``outdir``; return their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    image, mask = make_sample_study(seed)
    image_path, mask_path = outdir / "image.nrrd", outdir / "mask.nrrd"
    sitk.WriteImage(image, str(image_path), True)
    sitk.WriteImage(mask, str(mask_path), True)
    return image_path, mask_path
