"""Input checks shared by the CPU and CUDA matrix wrappers (kernels themselves never validate)."""

import inspect

import numpy as np


def device_matrix_inputs(levels, angles, n_levels):
    """:func:`matrix_inputs`, plus the limit of the uint32 counters the CUDA matrix kernels accumulate in."""
    levels, angles, n_levels = matrix_inputs(levels, angles, n_levels)
    if levels.size >= 2**32:
        raise ValueError("more than 2**32 voxels would overflow the uint32 device counts")
    return levels, angles, n_levels


#: The errors every matrix wrapper raises (its input checks, :func:`matrix_inputs`).
MATRIX_INPUT_ERRORS = """ValueError
    When ``levels`` is not 3-D, ``angles`` not (n, 3), or a level is ``>= n_levels``."""


def cuda_twin_of(cpu_function):
    """Decorator: complete a CUDA wrapper's one-line docstring with its CPU twin's contract.

    The twin's Parameters and Returns are kept word for word (one text for both devices), followed by a
    Raises section that names the CUDA error and the shared input errors.
    """

    def document(gpu_function):
        contract = inspect.cleandoc(cpu_function.__doc__).partition("\n\n")[2]
        contract = contract.split("\nRaises\n")[0].rstrip()
        gpu_function.__doc__ = (
            f"{inspect.cleandoc(gpu_function.__doc__)}\n\n"
            f"Same contract as :func:`{cpu_function.__module__}.{cpu_function.__name__}`.\n\n"
            f"{contract}\n\nRaises\n------\nRuntimeError\n"
            "    When CUDA kernels cannot run here (no GPU, no driver, no numba-cuda).\n"
            f"{MATRIX_INPUT_ERRORS}\n"
        )
        return gpu_function

    return document


def matrix_inputs(levels, angles, n_levels):
    """Cast to the kernel dtypes and reject what would make a kernel write outside its output.

    Numba kernels have no bounds checks and a CUDA kernel would do a silent out-of-bounds atomic, so an
    out-of-range level must be caught here.
    """
    levels = np.ascontiguousarray(levels, dtype=np.int32)
    angles = np.ascontiguousarray(angles, dtype=np.int64)
    if angles.size == 0:
        angles = angles.reshape(0, 3)
    n_levels = int(n_levels)
    if levels.ndim != 3:
        raise ValueError(f"levels must be 3-D (z, y, x), got shape {levels.shape}")
    if angles.ndim != 2 or angles.shape[1] != 3:
        raise ValueError(f"angles must have shape (n_angles, 3), got {angles.shape}")
    if n_levels < 0:
        raise ValueError(f"n_levels must be >= 0, got {n_levels}")
    if levels.size and levels.max() >= n_levels:
        raise ValueError(f"levels holds index {int(levels.max())} but n_levels is {n_levels}")
    return levels, angles, n_levels


def padded_flat(levels, pad, fill):
    """``levels`` inside a border of ``fill`` ``pad`` voxels wide, flattened, and the padded array's strides.

    The matrix kernels step between neighbours by constant flat offsets (``angles @ strides``); the border
    makes every such step from a box voxel land inside the array, so the kernels need no bounds checks.
    (``numpy.pad`` does the same several times slower.)
    """
    padded = np.full(tuple(n + 2 * pad for n in levels.shape), fill, dtype=levels.dtype)
    padded[tuple(slice(pad, pad + n) for n in levels.shape)] = levels
    strides = np.array(padded.strides, dtype=np.int64) // padded.itemsize
    return padded.reshape(-1), strides
