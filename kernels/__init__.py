"""Numeric core of spinerad: texture-matrix kernels and feature formulas (NumPy arrays in, arrays out).

One module per feature family (``glcm.py``, ``glrlm.py``, ``firstorder.py``); the CUDA twin of a matrix
kernel sits beside it (``gpu_glcm.py``) with the same signature and return value. This module is the one
dispatcher that picks the device.
"""

from . import _config  # noqa: F401  (selects the threading layer before any parallel kernel runs)
from .aggregation import nanmean_angles
from .angles import generate_angles
from .glcm import glcm_matrix as _glcm_matrix_cpu
from .glrlm import glrlm_matrix as _glrlm_matrix_cpu
from .roi import label_bounding_box

DEVICES = ("cpu", "cuda")


def _check_device(device):
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")


def glcm_matrix(levels, angles, n_levels, device="cpu"):
    """Raw co-occurrence counts (n_angles, Ng, Ng); see :func:`spinerad.kernels.glcm.glcm_matrix`."""
    _check_device(device)
    if device == "cuda":
        from .gpu_glcm import gpu_glcm_matrix

        return gpu_glcm_matrix(levels, angles, n_levels)
    return _glcm_matrix_cpu(levels, angles, n_levels)


def glrlm_matrix(levels, angles, n_levels, device="cpu"):
    """Raw run-length counts (n_angles, Ng, Nr); see :func:`spinerad.kernels.glrlm.glrlm_matrix`."""
    _check_device(device)
    if device == "cuda":
        from .gpu_glrlm import gpu_glrlm_matrix

        return gpu_glrlm_matrix(levels, angles, n_levels)
    return _glrlm_matrix_cpu(levels, angles, n_levels)


__all__ = [
    "DEVICES",
    "generate_angles",
    "glcm_matrix",
    "glrlm_matrix",
    "label_bounding_box",
    "nanmean_angles",
]
