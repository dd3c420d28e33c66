"""Eigenvalues of small symmetric matrices in Numba, for MCC per ROI and per voxel (no LAPACK threads).

One solver (Householder tridiagonalisation + implicit QL, :func:`spinerad.kernels.glcm_formulas.
tridiagonal_eigenvalues_body`), written once for the CPU and the GPU. Hand-written because LAPACK's per-call
overhead dominates for the 2..160-level matrices of MCC (13 angles per ROI or per voxel), because LAPACK
runs on the BLAS library's own threads, which fight the Numba and extraction threads for the cores (a
66-level ROI's MCC took 10x longer with 2 OpenBLAS threads on a busy 2-core machine), and because a CUDA
thread has no LAPACK.
"""

from .glcm_formulas import tridiagonal_eigenvalues as _symmetric_eigenvalues

__all__ = ["_symmetric_eigenvalues"]
