r"""Simulated training cohorts: MRI-like vertebral bodies with a lesion whose texture depends on the label.

The demo marker models are trained on these cohorts, never on patient data; every card and every prediction
made with them says so (:data:`~spinerad.models.tasks.SIMULATED`).

The mechanism
-------------
Each case has a label ``y`` (1 = the task's positive class) and a latent lesion score

.. math::
    s \mid y \sim \mathcal N(\pm\delta/2,\ 1), \qquad
    \delta = \sqrt2\,\Phi^{-1}(\mathrm{AUC}_{latent}),

so the Bayes-optimal AUC of a classifier that knew ``s`` is exactly ``AUC_latent``. The score sets the
lesion's texture, a Gaussian random field drawn on the voxel grid and smoothed with a Gaussian of
*physical* width (mm):

* coarseness: correlation length ``ell = 2.0 mm * exp(w_coarse * s)``;
* heterogeneity: amplitude ``A = 90 * exp(w_het * s)`` grey values;
* signal: mean intensity ``M = 450 + w_mean * s`` grey values (fatty marrow around it is ~900).

Lesion size and position, marrow texture and soft tissue vary from case to case independently of the label.
An image reveals ``s`` only through a finite, noisy lesion, so an image-based model reaches at most (and in
practice somewhat below) ``AUC_latent``; ``latent_auc=0.5`` gives labels that are pure noise.

Centres
-------
Cases come from simulated centres that differ as scanners do: additive noise, intensity gain/offset (which
moves the fixed-width grey-level bins) and voxel spacing (which changes how a physical correlation length
looks on the voxel grid). Centres A and B are the development centres, C and D the external ones, so a
model trained on A+B and tested on C+D shows the drop that external validation shows in the literature.

Clinical columns (``clinical=True``): ``age`` (independent of the label), ``sex`` and ``smoking``, whose
distributions depend on the label through a logistic shift (as sex and smoking history do for EGFR status).
Everything is drawn from NumPy generators seeded by ``(seed, task, case)``: the same arguments give the same
files, byte for byte.
"""

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter
from scipy.stats import norm

from .tasks import SIMULATED, TASKS, get_task

SHAPE_ZYX = (24, 48, 48)
#: What the simulated images stand for; a model trained on them records it as its applicability domain.
MODALITY = "MR"
SEQUENCE = "simulated T1-weighted-like (fatty marrow bright, lesion hypointense)"
FIELD_STRENGTH = None  # the simulator models no field strength
#: File written beside a simulated cohort CSV; ``spinerad train`` reads it to label the model as simulated.
SIDECAR = "spinerad-cohort.json"


@dataclass(frozen=True)
class Centre:
    """One simulated scanner/site."""

    noise_sd: float
    gain: float
    offset: float
    spacing_xyz: tuple
    external: bool


CENTRES = {
    "A": Centre(noise_sd=15.0, gain=1.00, offset=0.0, spacing_xyz=(0.8, 0.8, 3.0), external=False),
    "B": Centre(noise_sd=20.0, gain=0.95, offset=15.0, spacing_xyz=(0.85, 0.85, 3.0), external=False),
    "C": Centre(noise_sd=40.0, gain=1.25, offset=-30.0, spacing_xyz=(1.1, 1.1, 4.5), external=True),
    "D": Centre(noise_sd=35.0, gain=0.80, offset=50.0, spacing_xyz=(0.7, 0.7, 3.5), external=True),
}
DEVELOPMENT_CENTRES = tuple(name for name, c in CENTRES.items() if not c.external)
EXTERNAL_CENTRES = tuple(name for name, c in CENTRES.items() if c.external)


@dataclass(frozen=True)
class Mechanism:
    """How a task's label reaches the image: latent AUC, prevalence and the texture weights of ``s``."""

    latent_auc: float
    prevalence: float
    w_coarse: float
    w_het: float
    w_mean: float

    @property
    def delta(self):
        """Separation of the latent score's class means (in its standard deviations)."""
        return math.sqrt(2.0) * float(norm.ppf(self.latent_auc))


#: Per task: latent (Bayes-optimal) AUC at the midpoint of the published internal AUC, a plausible
#: prevalence, and which texture channels carry the score (different tasks select different features).
MECHANISMS = {
    "egfr_mutation": Mechanism(0.86, 0.45, w_coarse=0.30, w_het=0.00, w_mean=0.0),
    "egfr_exon19_vs_21": Mechanism(0.83, 0.55, w_coarse=0.00, w_het=0.25, w_mean=0.0),
    "egfr_t790m": Mechanism(0.84, 0.40, w_coarse=0.20, w_het=0.15, w_mean=0.0),
    "egfr_tki_response": Mechanism(0.88, 0.60, w_coarse=-0.25, w_het=0.10, w_mean=0.0),
    "ki67_high": Mechanism(0.805, 0.50, w_coarse=-0.30, w_het=0.00, w_mean=0.0),
    "her2_positive": Mechanism(0.80, 0.35, w_coarse=0.00, w_het=0.15, w_mean=25.0),
    "origin_nsclc_vs_breast": Mechanism(0.89, 0.50, w_coarse=0.15, w_het=0.00, w_mean=-40.0),
}


def _smooth_noise(rng, spacing_xyz, sigma_mm):
    """Unit-variance Gaussian random field with a Gaussian correlation of physical width ``sigma_mm``."""
    sigma_vox = [sigma_mm / s for s in spacing_xyz[::-1]]
    array = gaussian_filter(rng.standard_normal(SHAPE_ZYX), sigma_vox, mode="reflect", truncate=3.0)
    return (array - array.mean()) / (array.std() + 1e-12)


def make_case(rng, score, mechanism, centre):
    """One case: ``(image, mask)`` SimpleITK images of a vertebral body, lesion of latent score ``score``."""
    spacing_zyx = np.array(centre.spacing_xyz[::-1])
    axes_mm = zip(SHAPE_ZYX, spacing_zyx, strict=True)
    z, y, x = ((np.arange(n, dtype=np.float64) - n / 2 + 0.5) * s for n, s in axes_mm)
    z, y, x = np.meshgrid(z, y, x, indexing="ij")
    body = (y / 16.0) ** 2 + (x / 14.0) ** 2 <= 1.0
    axes = rng.uniform([7.0, 7.0, 7.0], [10.0, 11.0, 11.0])  # lesion semi-axes z, y, x (mm)
    centre_mm = rng.uniform([-3.0, -3.0, -2.0], [3.0, 3.0, 2.0])
    lesion = (
        ((z - centre_mm[0]) / axes[0]) ** 2
        + ((y - centre_mm[1]) / axes[1]) ** 2
        + ((x - centre_mm[2]) / axes[2]) ** 2
    ) <= 1.0
    image = 300.0 + 40.0 * _smooth_noise(rng, centre.spacing_xyz, 2.0)
    marrow = rng.uniform(850.0, 950.0) + 100.0 * _smooth_noise(rng, centre.spacing_xyz, 1.0)
    image[body] = marrow[body]
    ell = 2.0 * math.exp(mechanism.w_coarse * score)
    amplitude = 90.0 * math.exp(mechanism.w_het * score)
    mean = 450.0 + mechanism.w_mean * score
    image[lesion] = (mean + amplitude * _smooth_noise(rng, centre.spacing_xyz, ell))[lesion]
    image = centre.gain * image + centre.offset + rng.normal(0.0, centre.noise_sd, SHAPE_ZYX)
    image_itk = sitk.GetImageFromArray(np.clip(np.rint(image), 0, 4095).astype(np.int16))
    mask_itk = sitk.GetImageFromArray(lesion.astype(np.uint8))
    origin = tuple(-n * s / 2 for n, s in zip(SHAPE_ZYX[::-1], centre.spacing_xyz, strict=True))
    for item in (image_itk, mask_itk):
        item.SetSpacing(centre.spacing_xyz)
        item.SetOrigin(origin)
    return image_itk, mask_itk


def _labels(rng, n, prevalence):
    positives = int(round(n * prevalence))
    labels = np.array([1] * positives + [0] * (n - positives))
    rng.shuffle(labels)
    return labels


def _clinical(rng, label):
    # Logistic shifts of +-0.8 per class: informative, as sex and smoking are for EGFR status.
    shift = 0.8 if label else -0.8
    female = rng.random() < 1.0 / (1.0 + math.exp(-shift))
    p_never = 1.0 / (1.0 + math.exp(-(shift - 0.2)))
    smoking = "never" if rng.random() < p_never else ("former" if rng.random() < 0.6 else "current")
    return {"age": int(round(rng.normal(63.0, 10.0))), "sex": "F" if female else "M", "smoking": smoking}


def simulate_cohort(
    outdir, task, cases_per_centre=None, seed=0, latent_auc=None, clinical=False, centres=None
):
    """Write a simulated cohort (NRRD images and masks + ``cohort.csv`` + a JSON sidecar) into ``outdir``.

    Parameters
    ----------
    outdir : str or pathlib.Path
        Folder to write into (created).
    task : str
        One of :data:`~spinerad.models.tasks.TASKS`; sets the mechanism and prevalence.
    cases_per_centre : dict or int or None
        Cases per centre (an int: the same for every centre); default 90 per development centre, 50 per
        external one.
    seed : int
        Seed of everything drawn.
    latent_auc : float or None
        Overrides the task's latent (Bayes-optimal) AUC; 0.5 makes the labels pure noise.
    clinical : bool
        Add ``age``, ``sex`` and ``smoking`` columns.
    centres : sequence of str or None
        Which of :data:`CENTRES` to simulate (default all four).

    Returns
    -------
    pathlib.Path
        The cohort CSV: ``case_id, image, mask, label, center`` (+ clinical columns), paths relative to it.
    """
    spec = get_task(task)
    mechanism = MECHANISMS[task]
    if latent_auc is not None:
        if not 0.5 <= latent_auc < 1.0:
            raise ValueError(f"latent_auc must be in [0.5, 1), got {latent_auc}")
        mechanism = Mechanism(
            latent_auc, mechanism.prevalence, mechanism.w_coarse, mechanism.w_het, mechanism.w_mean
        )
    centres = tuple(centres or CENTRES)
    if cases_per_centre is None:
        cases_per_centre = {name: (50 if CENTRES[name].external else 90) for name in centres}
    elif isinstance(cases_per_centre, int):
        cases_per_centre = dict.fromkeys(centres, cases_per_centre)
    outdir = Path(outdir)
    (outdir / "images").mkdir(parents=True, exist_ok=True)
    task_index = list(TASKS).index(task)
    rows = []
    for centre_index, name in enumerate(centres):
        centre = CENTRES[name]
        label_rng = np.random.default_rng([seed, task_index, 1000 + centre_index])
        for i, label in enumerate(_labels(label_rng, cases_per_centre[name], mechanism.prevalence)):
            case_id = f"{name}{i:03d}"
            rng = np.random.default_rng([seed, task_index, centre_index, i])
            score = rng.normal(mechanism.delta / 2 if label else -mechanism.delta / 2, 1.0)
            image, mask = make_case(rng, score, mechanism, centre)
            image_path, mask_path = f"images/{case_id}_image.nrrd", f"images/{case_id}_mask.nrrd"
            sitk.WriteImage(image, str(outdir / image_path), True)
            sitk.WriteImage(mask, str(outdir / mask_path), True)
            row = {
                "case_id": case_id,
                "image": image_path,
                "mask": mask_path,
                "label": int(label),
                "center": name,
            }
            if clinical:
                row.update(_clinical(rng, label))
            rows.append(row)
    csv_path = outdir / "cohort.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sidecar = {
        "simulated": True,
        "csv": csv_path.name,
        "trained_on": SIMULATED,
        "task": task,
        "positive_class": spec.positive,
        "negative_class": spec.negative,
        "seed": seed,
        "mechanism": {**asdict(mechanism), "delta": mechanism.delta},
        "bayes_optimal_auc": mechanism.latent_auc,
        "centres": {name: {**asdict(CENTRES[name]), "cases": cases_per_centre[name]} for name in centres},
        "clinical_columns": ["age", "sex", "smoking"] if clinical else [],
        "shape_zyx": list(SHAPE_ZYX),
        "modality": MODALITY,
        "sequence": SEQUENCE,
        "field_strength_t": FIELD_STRENGTH,
        "documentation": "spinerad.models.simulate (module docstring)",
    }
    (outdir / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n")
    return csv_path


def read_sidecar(csv_path):
    """The simulator's sidecar of a cohort CSV, or None when the cohort was not simulated by spinerad."""
    path = Path(csv_path).parent / SIDECAR
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("simulated") is not True
        or data.get("csv") != Path(csv_path).name
    ):
        return None
    return data
