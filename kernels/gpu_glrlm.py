"""CUDA twin of :func:`spinerad.kernels.glrlm.glrlm_matrix`: the same run-length counts, computed on the GPU.

Layers, as on the CPU: :func:`gpu_glrlm_matrix` validates, casts, copies to the device and back and applies
PyRadiomics' flat-angle rule; :func:`_glrlm_on_device` launches on arrays already on the device; the
``@cuda.jit`` kernel takes only arrays and scalars.

One thread walks one line parallel to an angle, exactly as the CPU kernel's inner loop does, so every line
is walked once. The lines of an angle start at the voxels whose predecessor (voxel - angle) lies outside
the box; those starts are enumerated directly (three disjoint slabs of the box, see
:func:`_line_start_counts`) so no thread is spent on a voxel that starts nothing. Runs go to ``out`` with
uint32 atomics (a count never exceeds the number of voxels, so they are exact) and are returned as float64.
"""

import math

import numpy as np
from numba import cuda

from . import _config
from ._cuda import require_cuda
from ._inputs import cuda_twin_of, device_matrix_inputs
from .glrlm import glrlm_matrix


@cuda.jit(device=True)
def _slab(d, n):
    """First coordinate and width of the slab of line starts along one axis, and the rest of the axis.

    With step ``d`` > 0 a voxel starts a line when its coordinate is below ``d``; with ``d`` < 0 when it is
    at or above ``n + d``; with ``d`` == 0 never along this axis.
    """
    # An offset longer than the axis makes every voxel a start (and every line one voxel long).
    width = min(abs(d), n)
    if d > 0:
        return 0, width, width
    return n - width, width, 0


@cuda.jit
def _glrlm_kernel(levels, angles, out, several):
    """Grid y runs over angles, grid x over the line starts of that angle; one thread walks one line.

    ``several[a]`` is set to 1 when a line of angle ``a`` holds more than one ROI voxel.
    """
    a = cuda.blockIdx.y
    t = cuda.grid(1)
    n_z, n_y, n_x = levels.shape
    dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
    z_slab, z_width, z_rest = _slab(dz, n_z)
    y_slab, y_width, y_rest = _slab(dy, n_y)
    x_slab, x_width, x_rest = _slab(dx, n_x)
    # The starts are the union of three disjoint sets: the z slab (any y, x); outside the z slab, the
    # y slab (any x); outside both, the x slab. Same decomposition as _line_start_counts.
    in_z = z_width * n_y * n_x
    in_y = (n_z - z_width) * y_width * n_x
    in_x = (n_z - z_width) * (n_y - y_width) * x_width
    if t < in_z:
        z = z_slab + t // (n_y * n_x)
        y = (t // n_x) % n_y
        x = t % n_x
    elif t < in_z + in_y:
        t -= in_z
        z = z_rest + t // (y_width * n_x)
        y = y_slab + (t // n_x) % y_width
        x = t % n_x
    elif t < in_z + in_y + in_x:
        t -= in_z + in_y
        z = z_rest + t // ((n_y - y_width) * x_width)
        y = y_rest + (t // x_width) % (n_y - y_width)
        x = x_slab + t % x_width
    else:
        return
    run_level = -1
    run_length = 0
    elements = 0
    while 0 <= z < n_z and 0 <= y < n_y and 0 <= x < n_x:
        v = levels[z, y, x]
        if v >= 0:
            elements += 1
            if v == run_level:
                run_length += 1
            else:
                if run_level >= 0:
                    cuda.atomic.add(out, (a, run_level, run_length - 1), 1)
                run_level = v
                run_length = 1
        elif run_level >= 0:
            cuda.atomic.add(out, (a, run_level, run_length - 1), 1)
            run_level = -1
        z += dz
        y += dy
        x += dx
    if run_level >= 0:
        cuda.atomic.add(out, (a, run_level, run_length - 1), 1)
    if elements > 1:
        # Every writer stores the same value, so the race between lines is harmless.
        several[a] = 1


def _line_start_counts(shape, angles):
    """Count the lines of each angle: the voxels whose predecessor (voxel - angle) lies outside the box."""
    n = np.asarray(shape, dtype=np.int64)
    inner = np.prod(n - np.minimum(np.abs(angles), n), axis=1)
    return int(np.prod(n)) - inner


def _glrlm_on_device(levels, angles, out, several, max_starts):
    """Count runs into ``out`` (uint32, zeroed) and flag angles in ``several`` (uint8, zeroed), on the device.

    ``max_starts`` is the largest number of line starts of any angle (:func:`_line_start_counts`); it sizes
    the grid. The block size is read from :data:`spinerad.kernels._config.THREADS_PER_BLOCK` at call time.
    """
    if angles.shape[0] == 0 or max_starts == 0 or out.shape[1] == 0:
        return out
    threads = _config.THREADS_PER_BLOCK
    _glrlm_kernel[(math.ceil(max_starts / threads), angles.shape[0]), threads](levels, angles, out, several)
    return out


@cuda_twin_of(glrlm_matrix)
def gpu_glrlm_matrix(levels, angles, n_levels, zero_flat_angles=True):
    """Raw run-length counts per angle, computed with CUDA (PyRadiomics' flat-angle rule included)."""
    require_cuda()
    levels, angles, n_levels = device_matrix_inputs(levels, angles, n_levels)
    n_angles = angles.shape[0]
    n_runs = max(levels.shape)
    starts = _line_start_counts(levels.shape, angles)
    out = cuda.to_device(np.zeros((n_angles, n_levels, n_runs), dtype=np.uint32))
    several = cuda.to_device(np.zeros(n_angles, dtype=np.uint8))
    _glrlm_on_device(
        cuda.to_device(levels), cuda.to_device(angles), out, several, int(starts.max()) if n_angles else 0
    )
    counts = out.copy_to_host().astype(np.float64)
    if zero_flat_angles:
        counts[several.copy_to_host() == 0] = 0.0
    return counts
