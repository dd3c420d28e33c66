"""GLSZM feature maps: the size-zone features of every voxel's kernel, PyRadiomics-exact.

Per voxel: the zones (connected by the neighbour offsets, 26- or 8-connected) of equal level among the
kernel box's valid voxels, connected only inside the box, then the per-ROI formulas of
:mod:`spinerad.kernels.glszm`.
"""

import numpy as np
from numba import njit, prange

from ._config import JIT_PARALLEL
from .glszm import FEATURE_NAMES, _glszm_feature_kernel
from .voxel_common import block_scratch, block_voxels, load_window


@njit(**JIT_PARALLEL)
def glszm_maps(levels, coords, radius, axis2d, angles, grey_levels, blocks, out):
    """GLSZM features of each voxel's kernel; ``out`` (n_voxels, 16).

    ``angles``: int64 (Na, 3) from ``generate_angles(grid shape, (1,), force2D, axis, bidirectional=True)``.
    """
    n_vox = coords.shape[0]
    n_angles = angles.shape[0]
    n_global = grey_levels.shape[0]
    span = 2 * radius + 1
    kmax = span * span * span
    n_feat = len(FEATURE_NAMES)
    for blk in prange(blocks):
        box, marker, local, g = block_scratch(radius, n_global)
        seen = np.zeros(kmax, dtype=np.bool_)
        stack = np.empty(kmax, dtype=np.int64)
        feats = np.empty((1, n_feat))
        column = np.empty(kmax + 1, dtype=np.int64)
        start, stop = block_voxels(blk, blocks, n_vox)
        for v in range(start, stop):
            sz, sy, sx, n = load_window(levels, coords, v, radius, axis2d, grey_levels, box, marker, local, g)
            n_box = sz * sy * sx
            n_valid = 0
            for b in range(n_box):
                seen[b] = False
                if box[b] >= 0:
                    n_valid += 1
            zone_level = np.empty(n_valid, dtype=np.int64)
            zone_size = np.empty(n_valid, dtype=np.int64)
            n_zones = 0
            for b in range(n_box):
                level = box[b]
                if level < 0 or seen[b]:
                    continue
                seen[b] = True
                top = 0
                stack[top] = b
                top += 1
                size = 0
                while top > 0:
                    top -= 1
                    c = stack[top]
                    size += 1
                    cz = c // (sy * sx)
                    cy = (c // sx) % sy
                    cx = c % sx
                    for a in range(n_angles):
                        nz, ny, nx = cz + angles[a, 0], cy + angles[a, 1], cx + angles[a, 2]
                        if 0 <= nz < sz and 0 <= ny < sy and 0 <= nx < sx:
                            nb = (nz * sy + ny) * sx + nx
                            if not seen[nb] and box[nb] == level:
                                seen[nb] = True
                                stack[top] = nb
                                top += 1
                zone_level[n_zones] = level
                zone_size[n_zones] = size
                n_zones += 1
            # only the zone sizes that occur (PyRadiomics drops the empty size columns; they add 0)
            for b in range(n_valid + 1):
                column[b] = -1
            n_sizes = 0
            for zn in range(n_zones):
                if column[zone_size[zn]] < 0:
                    column[zone_size[zn]] = 0
                    n_sizes += 1
            sizes = np.empty(n_sizes)
            k = 0
            for size in range(1, n_valid + 1):
                if column[size] >= 0:
                    column[size] = k
                    sizes[k] = size
                    k += 1
            p = np.zeros((1, n, n_sizes))
            for zn in range(n_zones):
                p[0, zone_level[zn], column[zone_size[zn]]] += 1.0
            _glszm_feature_kernel(p, g[:n].copy(), sizes, feats)
            for f in range(n_feat):
                out[v, f] = feats[0, f]


__all__ = ["FEATURE_NAMES", "glszm_maps"]
