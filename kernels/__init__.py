"""Numeric core of spinerad: texture-matrix kernels and feature formulas (NumPy arrays in, arrays out).

One module per feature family (``glcm.py``, ``glrlm.py``, ``firstorder.py``); the CUDA twin of a matrix
kernel sits beside it (``gpu_glcm.py``) with the same signature and return value. This module is the one
dispatcher that picks the device.
"""

from . import _config  # noqa: F401  (selects the threading layer before any parallel kernel runs)
from .aggregation import nanmean_angles
from .angles import generate_angles
from .glcm import glcm_matrix as _glcm_matrix_cpu
from .gldm import gldm_matrix as _gldm_matrix_cpu
from .glrlm import glrlm_matrix as _glrlm_matrix_cpu
from .glszm import glszm_matrix as _glszm_matrix_cpu
from .ngtdm import ngtdm_matrix as _ngtdm_matrix_cpu
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


def glrlm_matrix(levels, angles, n_levels, device="cpu", zero_flat_angles=True):
    """Raw run-length counts (n_angles, Ng, Nr); see :func:`spinerad.kernels.glrlm.glrlm_matrix`."""
    _check_device(device)
    if device == "cuda":
        from .gpu_glrlm import gpu_glrlm_matrix

        return gpu_glrlm_matrix(levels, angles, n_levels, zero_flat_angles)
    return _glrlm_matrix_cpu(levels, angles, n_levels, zero_flat_angles)


# GLSZM, GLDM and NGTDM have no CUDA twin yet: zone labelling is serial and the neighbourhood histograms
# of one ROI are cheap next to the transfer, so device="cuda" runs the CPU kernels.


def glszm_matrix(levels, angles, n_levels, device="cpu"):
    """Zone counts (Ng, largest zone); see :func:`spinerad.kernels.glszm.glszm_matrix` (CPU kernel)."""
    _check_device(device)
    return _glszm_matrix_cpu(levels, angles, n_levels)


def gldm_matrix(levels, angles, grey_levels, alpha=0, device="cpu"):
    """Dependence counts (Ng, n_angles + 1); see :func:`spinerad.kernels.gldm.gldm_matrix` (CPU kernel)."""
    _check_device(device)
    return _gldm_matrix_cpu(levels, angles, grey_levels, alpha)


def ngtdm_matrix(levels, angles, grey_levels, device="cpu"):
    """Count voxels and differences (Ng, 2); see :func:`spinerad.kernels.ngtdm.ngtdm_matrix` (CPU kernel)."""
    _check_device(device)
    return _ngtdm_matrix_cpu(levels, angles, grey_levels)


__all__ = [
    "DEVICES",
    "generate_angles",
    "glcm_matrix",
    "gldm_matrix",
    "glrlm_matrix",
    "glszm_matrix",
    "label_bounding_box",
    "nanmean_angles",
    "ngtdm_matrix",
]
