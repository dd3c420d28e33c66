r"""IBSI mode: morphology (``morph_``), local intensity (``loc_``) and the per-step diagnostic values.

Morphology (IBSI 1, section 3.1) describes the *morphological* mask (the ROI after interpolation, before
re-segmentation); integrated intensity, the centre-of-mass shift and Moran's I / Geary's C also read the
*intensity* mask (after re-segmentation) and its intensities.

- Mesh: marching cubes (scikit-image, level 0.5) on the morphological mask padded by one voxel, with the
  voxel spacing, as IBSI specifies; volume from the signed tetrahedra (origin, face), area from the faces.
- Convex hull (SciPy ``ConvexHull``) of the mesh vertices: hull volume/area, maximum 3D diameter (exact:
  all pairs of hull vertices), axis-aligned bounding box.
- PCA of the morphological voxel centres (mm; covariance with N - 1): axes ``4 sqrt(lambda)``,
  approximate enclosing ellipsoid with semi-axes ``2 sqrt(lambda)``, its area by IBSI's Legendre series.
- Minimum-volume enclosing ellipsoid: Khachiyan's algorithm with Todd-Yildirim away steps on the hull
  vertices, run to a (1 + 1e-10)-approximation (converged to ~1e-9 relative in the semi-axes on the CT
  phantom); oriented minimum bounding box: the smallest box with one face on a hull facet and one edge
  along that facet's edges (an approximation: O'Rourke's exact algorithm is not in a maintained library;
  IBSI publishes no reference value for either, and its tables leave them empty).
- Moran's I / Geary's C: exact sums over all voxel pairs of the intensity mask with inverse-distance
  weights, evaluated by FFT correlation of the box and Parseval's theorem (O(M log M) in the box size,
  M ~ 8x the box): float rounding only (1e-14 relative against the pair sum on the CT phantom's 114,596
  voxels). :mod:`spinerad.kernels.morphology` holds the direct O(N^2) Numba pair sum it is checked against.

Local intensity (IBSI 3.2): the mean of the image's voxels whose centres lie within the 1 cm^3 sphere
(radius 6.2035 mm) around each intensity-mask voxel, summed over the sphere's x-runs in parallel
(:func:`spinerad.kernels.morphology.local_sums_kernel`; voxels outside the image are not counted; no FFT
rounding), each run from row prefix sums when the image holds whole numbers (exact integer sums: the
same values), voxel by voxel otherwise: ``loc_peak_loc`` at the ROI's highest intensity (the largest
mean if several voxels share it), ``loc_peak_glob`` the largest mean over the ROI.
"""

import numpy as np
from scipy import fft as sp_fft
from scipy.spatial import ConvexHull

from .kernels import morphology as _kernels
from .kernels.imagestats import integer_statistics, rounded_statistics

#: radius (mm) of a sphere of 1 cm^3
PEAK_RADIUS = (3.0 / (4.0 * np.pi)) ** (1.0 / 3.0) * 10.0


# ---------------------------------------------------------------------------------------------------------
# Mesh and hull


def mesh(morph_mask, spacing):
    """(vertices (n, 3) mm, faces (m, 3), volume, area) of the morphological mask by marching cubes."""
    from skimage.measure import marching_cubes

    padded = np.pad(np.asarray(morph_mask, dtype=np.float64), 1)
    vertices, faces, _, _ = marching_cubes(padded, level=0.5, spacing=tuple(float(s) for s in spacing))
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    volume = abs(np.sum(np.einsum("ij,ij->i", a, np.cross(b, c)))) / 6.0
    area = np.sum(np.linalg.norm(np.cross(b - a, c - a), axis=1)) / 2.0
    return vertices, faces, float(volume), float(area)


def max_diameter(points):
    """Largest distance between two points (exact, all pairs, in parallel)."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    if len(points) < 2:
        return 0.0
    out = np.zeros(len(points))
    _kernels.max_squared_distance_kernel(points, out)
    return float(np.sqrt(out.max()))


def ellipsoid_area(semi_axes, n_terms=20):
    r"""Surface area of an ellipsoid by IBSI's Legendre series (exact formulas for spheres and spheroids).

    The series is IBSI's (and MIRP's) definition of the enclosing-ellipsoid area; for triaxial ellipsoids
    it is 2-3 % off the true area (measured by numerical integration in the tests).

    .. math:: A \approx 4\pi a b \sum_{\nu=0}^{20} \frac{(\alpha\beta)^\nu}{1 - 4\nu^2}
              P_\nu\left(\frac{\alpha^2+\beta^2}{2\alpha\beta}\right),\quad
              \alpha = \sqrt{1 - b^2/a^2},\ \beta = \sqrt{1 - c^2/a^2}
    """
    from numpy.polynomial.legendre import legval

    c, b, a = np.sort(np.asarray(semi_axes, dtype=np.float64))
    if a == b == c:
        return 4 * np.pi * a * a
    if b == c:  # prolate spheroid
        e = np.sqrt(1 - c * c / (a * a))
        return 2 * np.pi * c * c * (1 + a * np.arcsin(e) / (c * e))
    if a == b:  # oblate spheroid
        e = np.sqrt(1 - c * c / (a * a))
        return 2 * np.pi * a * a * (1 + (1 - e * e) / e * np.arctanh(e))
    alpha = np.sqrt(1 - b * b / (a * a))
    beta = np.sqrt(1 - c * c / (a * a))
    nu = np.arange(n_terms + 1, dtype=np.float64)
    coefficients = (alpha * beta) ** nu / (1 - 4 * nu * nu)
    return float(4 * np.pi * a * b * legval((alpha**2 + beta**2) / (2 * alpha * beta), coefficients))


def mvee_semi_axes(points, tolerance=1e-10, max_iterations=100000):
    """Semi-axes (ascending) of the minimum-volume enclosing ellipsoid of ``points`` (Khachiyan)."""
    p = np.ascontiguousarray(points, dtype=np.float64)
    n, d = p.shape
    u = np.full(n, 1.0 / n)
    _kernels.khachiyan_kernel(p, tolerance, max_iterations, u)
    centre = p.T @ u
    shape = np.linalg.inv((p.T * u) @ p - np.outer(centre, centre)) / d
    eigenvalues = np.linalg.eigvalsh(shape)
    return np.sort(1.0 / np.sqrt(eigenvalues))


def ombb_dimensions(hull_points, hull):
    """Box dimensions of the approximate oriented minimum bounding box (a face on a hull facet)."""
    normals = hull.equations[:, :3]
    best = None
    best_volume = np.inf
    centred = hull_points - hull_points.mean(axis=0)
    for start in range(0, len(hull.simplices), 256):
        simplices = hull.simplices[start : start + 256]
        normal = normals[start : start + 256]
        pts = hull.points[simplices]  # (f, 3, 3)
        for edge in range(3):
            direction = pts[:, (edge + 1) % 3] - pts[:, edge]
            direction -= np.sum(direction * normal, axis=1)[:, None] * normal
            length = np.linalg.norm(direction, axis=1)
            keep = length > 0
            u = direction[keep] / length[keep, None]
            nrm = normal[keep]
            v = np.cross(nrm, u)
            frames = np.stack([nrm, u, v], axis=1)  # (f, 3 axes, 3)
            projected = (frames.reshape(-1, 3) @ centred.T).reshape(len(frames), 3, -1)  # (f, axis, point)
            dims = projected.max(axis=2) - projected.min(axis=2)
            volumes = np.prod(dims, axis=1)
            i = int(np.argmin(volumes))
            if volumes[i] < best_volume:
                best_volume = volumes[i]
                best = dims[i]
    return best


def _box_area(dims):
    return 2.0 * (dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])


# ---------------------------------------------------------------------------------------------------------
# Moran's I and Geary's C


def _inverse_distance_table(shape, spacing):
    z, y, x = (np.square(np.arange(n) * s) for n, s in zip(shape, spacing, strict=True))
    distance = np.sqrt(z[:, None, None] + y[None, :, None] + x[None, None, :])  # (z^2 + y^2) + x^2, broadcast
    with np.errstate(divide="ignore"):
        table = 1.0 / distance
    table[0, 0, 0] = 0.0
    return table


def spatial_autocorrelation(int_mask, values, spacing, method="fft"):
    r"""Moran's I and Geary's C of the intensity mask (exact pair sums; ``method`` "fft" or "pairs").

    .. math::
        I = \frac{N}{W} \frac{S_M}{\sum_k (X_k - \mu)^2},\quad
        C = \frac{N - 1}{2 W} \frac{2 S_G}{\sum_k (X_k - \mu)^2}

    with :math:`S_M, S_G, W` over unordered pairs (see :mod:`spinerad.kernels.morphology`); a constant ROI
    gives 1 for both (IBSI's convention for a zero denominator).
    """
    int_mask = np.asarray(int_mask, dtype=bool)
    n = int(np.count_nonzero(int_mask))
    x = np.asarray(values, dtype=np.float64)[int_mask]
    deviation = x - x.mean()
    denominator = np.sum(deviation**2)
    if n < 2 or denominator == 0:
        return 1.0, 1.0
    if method == "pairs":
        z, y, xx = (np.ascontiguousarray(i, dtype=np.int64) for i in np.nonzero(int_mask))
        table = _inverse_distance_table(int_mask.shape, spacing)
        out = np.zeros((n, 3))
        _kernels.pair_sums_kernel(z, y, xx, deviation, table, out)
        s_m, s_g, w = out.sum(axis=0)
    else:
        shape = int_mask.shape
        # An even transform length >= 2 s per axis: the circular correlation is the linear one (no wrap)
        half = [sp_fft.next_fast_len(s, real=True) for s in shape]
        fft_shape = [2 * h for h in half]
        data = np.zeros((3, *shape))
        data[0] = int_mask
        data[1][int_mask] = deviation
        data[2][int_mask] = deviation**2
        # rfftn of the zero-padded box, axis by axis: each axis's transform runs only over the rows the
        # earlier axes made non-zero (the padding is never transformed as whole rows of zeros). The y and z
        # transforms run in place in one zero-padded buffer (the same transforms, without a padded copy and
        # a new output per axis).
        spectrum = sp_fft.rfft(data, n=fft_shape[2], axis=3, workers=-1)
        padded = np.zeros((3, fft_shape[0], fft_shape[1], spectrum.shape[3]), dtype=np.complex128)
        padded[:, : shape[0], : shape[1]] = spectrum
        rows = padded[:, : shape[0]]
        transformed = sp_fft.fft(rows, axis=2, overwrite_x=True, workers=-1)
        if not np.may_share_memory(transformed, rows):  # (overwrite_x allows writing in place, no promise)
            rows[...] = transformed
        fm, fd, fd2 = sp_fft.fft(padded, axis=1, overwrite_x=True, workers=-1)
        # The weights are even on the circular offset grid (offset o and -o at index o and F - o), so their
        # transform is real: the type-1 DCT of offsets 0..F/2 (period 2 (F/2) = F), mirrored. Offsets from
        # s to F - s have no voxel pairs; their weights do not enter the sums.
        table = _inverse_distance_table([h + 1 for h in half], spacing)
        transform = sp_fft.dctn(table, type=1, workers=-1)
        for axis in (0, 1):
            mirrored = np.flip(np.take(transform, np.arange(1, half[axis]), axis=axis), axis=axis)
            transform = np.concatenate([transform, mirrored], axis=axis)
        # sum_o w(o) sum_k a_k b_(k+o) by Parseval: (1/N) sum_f conj(A(f)) B(f) W(f) over the full spectrum;
        # the half spectrum of the last axis counts its interior bins twice.
        multiplicity = np.full(transform.shape[-1], 2.0)
        multiplicity[0] = multiplicity[-1] = 1.0
        spectral_weights = np.ascontiguousarray(transform * multiplicity / float(np.prod(fft_shape)))
        sums = np.zeros((fm.shape[0], 3))
        _kernels.spectral_sums_kernel(fm, fd, fd2, spectral_weights, sums)
        mm, dd, qm = sums.sum(axis=0)
        # ordered-pair sums (each unordered pair twice)
        w = mm / 2
        s_m = dd / 2
        s_g = (2 * qm - 2 * dd) / 2
    moran = n * s_m / (w * denominator)
    geary = (n - 1) * s_g / (2 * w * denominator)
    return float(moran), float(geary)


# ---------------------------------------------------------------------------------------------------------
# Family entry points


def morphology_features(morph_mask, int_mask, intensities, spacing, autocorrelation="fft"):
    """``morph_*`` (IBSI 3.1): 29 features of one ROI.

    Parameters
    ----------
    morph_mask, int_mask : numpy.ndarray
        bool (z, y, x) morphological and intensity masks on the same grid.
    intensities : numpy.ndarray
        Image intensities on that grid.
    spacing : sequence of float
        Voxel spacing (z, y, x) in mm.
    autocorrelation : {"fft", "pairs"} or concurrent.futures.Future
        How :func:`spatial_autocorrelation` computes Moran's I and Geary's C, or a future of its result
        (computed elsewhere, e.g. in another thread).
    """
    morph_mask = np.asarray(morph_mask, dtype=bool)
    int_mask = np.asarray(int_mask, dtype=bool)
    spacing = np.asarray(spacing, dtype=np.float64)
    vertices, _, volume, area = mesh(morph_mask, spacing)
    n_morph = int(np.count_nonzero(morph_mask))
    out = {
        "morph_volume": volume,
        "morph_vol_approx": n_morph * float(np.prod(spacing)),
        "morph_area_mesh": area,
        "morph_av": area / volume,
        "morph_comp_1": volume / (np.pi**0.5 * area**1.5),
        "morph_comp_2": 36 * np.pi * volume**2 / area**3,
        "morph_sph_dispr": area / (36 * np.pi * volume**2) ** (1 / 3),
        "morph_sphericity": (36 * np.pi * volume**2) ** (1 / 3) / area,
        "morph_asphericity": (area**3 / (36 * np.pi * volume**2)) ** (1 / 3) - 1,
    }
    positions_morph = np.argwhere(morph_mask) * spacing
    positions_int = np.argwhere(int_mask) * spacing
    x_int = np.asarray(intensities, dtype=np.float64)[int_mask]
    centre_int = (x_int[:, None] * positions_int).sum(axis=0) / x_int.sum()
    out["morph_com"] = float(np.linalg.norm(positions_morph.mean(axis=0) - centre_int))

    hull = ConvexHull(vertices)
    hull_points = vertices[hull.vertices]
    out["morph_diam"] = max_diameter(hull_points)

    if n_morph > 1:
        eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(positions_morph, rowvar=False)))[::-1]
        eigenvalues = np.maximum(eigenvalues, 0)
    else:
        eigenvalues = np.zeros(3)
    major, minor, least = eigenvalues
    out["morph_pca_maj_axis"] = 4 * np.sqrt(major)
    out["morph_pca_min_axis"] = 4 * np.sqrt(minor)
    out["morph_pca_least_axis"] = 4 * np.sqrt(least)
    out["morph_pca_elongation"] = np.sqrt(minor / major) if major > 0 else np.nan
    out["morph_pca_flatness"] = np.sqrt(least / major) if major > 0 else np.nan

    aabb = vertices.max(axis=0) - vertices.min(axis=0)
    out["morph_vol_dens_aabb"] = volume / np.prod(aabb)
    out["morph_area_dens_aabb"] = area / _box_area(aabb)
    ombb = ombb_dimensions(hull_points, hull)
    out["morph_vol_dens_ombb"] = volume / np.prod(ombb)
    out["morph_area_dens_ombb"] = area / _box_area(ombb)

    semi = 2 * np.sqrt(eigenvalues)
    out["morph_vol_dens_aee"] = volume / (4 * np.pi / 3 * np.prod(semi))
    out["morph_area_dens_aee"] = area / ellipsoid_area(semi)
    mvee = mvee_semi_axes(hull_points)
    out["morph_vol_dens_mvee"] = volume / (4 * np.pi / 3 * np.prod(mvee))
    out["morph_area_dens_mvee"] = area / ellipsoid_area(mvee)

    out["morph_vol_dens_conv_hull"] = volume / hull.volume
    out["morph_area_dens_conv_hull"] = area / hull.area
    out["morph_integ_int"] = volume * float(x_int.mean())
    if isinstance(autocorrelation, str):
        moran, geary = spatial_autocorrelation(int_mask, intensities, spacing, method=autocorrelation)
    else:
        moran, geary = autocorrelation.result()
    out["morph_moran_i"] = moran
    out["morph_geary_c"] = geary
    return {k: float(v) for k, v in out.items()}


def spherical_mean_kernel(spacing, radius=PEAK_RADIUS):
    """0/1 kernel of the voxel offsets whose centres lie within ``radius`` mm (odd size per axis)."""
    reach = np.floor(radius / np.asarray(spacing, dtype=np.float64)).astype(int)
    axes = [np.arange(-r, r + 1) * s for r, s in zip(reach, spacing, strict=True)]
    grids = np.meshgrid(*axes, indexing="ij")
    return (np.sqrt(sum(g * g for g in grids)) <= radius).astype(np.float64)


#: Largest integer every float64 holds exactly.
_EXACT_LIMIT = 2.0**53


def _sphere_runs(kernel):
    """``(dz, dy, h)`` rows of a centred 0/1 kernel symmetric in x: the runs ``dx = -h..h`` it holds."""
    reach = np.array(kernel.shape) // 2
    dz, dy = np.nonzero(kernel.any(axis=2))
    half = kernel[dz, dy].sum(axis=1) // 2  # a ball's rows are centred intervals
    return np.ascontiguousarray(np.stack([dz - reach[0], dy - reach[1], half], axis=1), dtype=np.int64)


def local_intensity_features(image, int_mask, offset, spacing):
    """``loc_peak_loc`` and ``loc_peak_glob`` (IBSI 3.2).

    ``image``: the whole (interpolated) intensity array (z, y, x); ``int_mask``: bool intensity mask on a
    box of that array starting at ``offset`` (z, y, x).
    """
    kernel = spherical_mean_kernel(spacing)
    reach = np.array(kernel.shape) // 2
    lo = np.maximum(np.array(offset) - reach, 0)
    hi = np.minimum(np.array(offset) + np.array(int_mask.shape) + reach, np.shape(image))
    # the crop holds every image voxel within reach of the ROI: "outside the crop" is "outside the image"
    window = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    crop = np.array(np.asarray(image)[window], dtype=np.float64, order="C")  # writable: one specialisation
    start = np.array(offset) - lo
    coordinates = zip(np.nonzero(int_mask), start, strict=True)
    z, y, x = (np.ascontiguousarray(i + a, dtype=np.int64) for i, a in coordinates)
    sums = np.zeros((len(z), 2))
    # whole numbers (rounded or integer images): each x-run of the sphere from row prefix sums, the same sums
    whole = bool(np.array_equal(crop, np.rint(crop)) and np.abs(crop).sum() < _EXACT_LIMIT)
    prefix = np.empty((*crop.shape[:2], crop.shape[2] + 1) if whole else (1, 1, 1))
    if whole:
        _kernels.row_prefix_sums_kernel(crop, prefix)
    _kernels.local_sums_kernel(crop, prefix, whole, z, y, x, _sphere_runs(kernel), sums)
    means = sums[:, 0] / sums[:, 1]
    values = crop[z, y, x]
    return {
        "loc_peak_loc": float(means[values == values.max()].max()),
        "loc_peak_glob": float(means.max()),
    }


# ---------------------------------------------------------------------------------------------------------
# Diagnostics


def image_diagnostics(stage, image, rounded=False):
    """``img_dim_*``, ``vox_dim_*``, ``mean/min/max_int_*`` of a whole image (``stage``: init or interp).

    ``rounded``: describe the image's intensities rounded to whole numbers (IBSI's rounding after
    interpolation), without making the rounded image.
    """
    import SimpleITK as sitk

    values = sitk.GetArrayViewFromImage(image)
    out = {}
    for axis, size, step in zip("xyz", image.GetSize(), image.GetSpacing(), strict=True):
        out[f"img_dim_{axis}_{stage}_img"] = float(size)
        out[f"vox_dim_{axis}_{stage}_img"] = float(step)
    # Integer types and rounded intensities: one parallel pass with exact integer sums, so the mean is
    # NumPy's float64 mean bit for bit (every partial sum of either is an exact integer); else NumPy.
    exact = None
    if rounded:
        exact = rounded_statistics(values)
        if exact is None:
            values = np.round(values)
    elif values.ndim == 3 and values.dtype.kind in "iu":  # (NumPy is as fast on float types)
        exact = integer_statistics(values)
        exact = exact if exact is None else (exact[0], exact[2], exact[3])
    if exact is not None:
        mean, low, high = exact
    else:
        mean, low, high = np.mean(values, dtype=np.float64), np.min(values), np.max(values)
    out[f"mean_int_{stage}_img"] = float(mean)
    out[f"min_int_{stage}_img"] = float(low)
    out[f"max_int_{stage}_img"] = float(high)
    return out


def mask_diagnostics(stage, grid_shape_zyx, int_box, int_mask, morph_box, morph_mask, int_values):
    """``int_mask_*`` / ``morph_mask_*`` values of one step (``stage``: init, interp or reseg).

    Boxes are (z, y, x) slices of the bounding boxes, the masks bool arrays on them, ``int_values`` the
    intensities of the intensity mask's voxels.
    """
    out = {}
    for axis, size in zip("xyz", grid_shape_zyx[::-1], strict=True):
        out[f"int_mask_dim_{axis}_{stage}_roi"] = float(size)
    for name, box in (("int_mask", int_box), ("morph_mask", morph_box)):
        for axis, b in zip("xyz", box[::-1], strict=True):
            out[f"{name}_bb_dim_{axis}_{stage}_roi"] = float(b.stop - b.start)
    out[f"int_mask_vox_count_{stage}_roi"] = float(np.count_nonzero(int_mask))
    out[f"morph_mask_vox_count_{stage}_roi"] = float(np.count_nonzero(morph_mask))
    values = np.asarray(int_values, dtype=np.float64)
    out[f"int_mask_mean_int_{stage}_roi"] = float(values.mean())
    out[f"int_mask_min_int_{stage}_roi"] = float(values.min())
    out[f"int_mask_max_int_{stage}_roi"] = float(values.max())
    return out


def warm_kernels():
    """Compile the specialisations IBSI mode's warm-up study (int16, not interpolated) does not reach.

    Local intensity of fractional images (the direct sphere sums), the rounded grid's diagnostics and the
    integer-type image statistics, on read-only arrays as SimpleITK's views are.
    """
    from .kernels.imagestats import TYPES

    local_intensity_features(np.full((3, 3, 3), 0.5), np.ones((1, 1, 1), dtype=bool), (1, 1, 1), (1, 1, 1))
    volume = np.zeros((2, 2, 2))
    volume.flags.writeable = False
    rounded_statistics(volume)
    for dtype in TYPES:
        values = np.zeros((2, 2, 2), dtype=dtype)
        values.flags.writeable = False
        integer_statistics(values)
