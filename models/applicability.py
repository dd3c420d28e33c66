"""Applicability domain of a marker model: whether a study is like the ones the model was trained on.

A model's output means something only for studies like its training cases. Two checks, both recorded in
the model card at training time and applied to every prediction:

* **Modality.** The card names the modality the model was trained on (``MR`` for the demo models); a study
  whose DICOM header (``Modality``, 0008,0060) or user-given modality says otherwise is outside.
* **Feature distance.** The model's selected radiomics features of the study, together with three intensity
  descriptors (:data:`INTENSITY_DESCRIPTORS`: every texture feature of a fixed-bin-width extraction depends
  on the intensity scale, and a one-feature model alone cannot tell a CT from an MR), are z-scored and
  compared with the training distribution of the same features by the Mahalanobis distance. The
  threshold is a high percentile (:data:`DOMAIN_PERCENTILE`) of the *leave-one-out* distances
  of the training cases (each case measured against the mean and covariance of the others), so it is what a
  new case from the training distribution exceeds with about that probability; in-sample distances would
  be smaller and flag too many in-domain studies.

Outside the domain a prediction says ``applicability: "outside"`` with its reasons, carries a warning, and
withholds its label unless the caller asks for it.
"""

import math
import re

import numpy as np

from ..errors import InvalidInput

#: Features added to every model's selected ones in the distance, when the extraction computes them.
INTENSITY_DESCRIPTORS = (
    "original_firstorder_Mean",
    "original_firstorder_10Percentile",
    "original_firstorder_90Percentile",
)
#: Percentile of the leave-one-out training distances that sets the distance threshold.
DOMAIN_PERCENTILE = 99.5
#: DICOM tag of Modality as SimpleITK spells it in an image's metadata dictionary.
MODALITY_TAG = "0008|0060"
_MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")
#: A relative ridge on the covariance: selected features are decorrelated (|r| < 0.9) but a tiny cohort
#: could still give a near-singular matrix; this keeps the inverse finite without moving real distances.
_RIDGE = 1e-9


def normalise_modality(value, what="modality"):
    """A DICOM modality code (``MR``, ``CT``, ``PT``, ...) in upper case; None for None/empty."""
    if value is None:
        return None
    text = str(value).strip().upper()
    if not text:
        return None
    if not _MODALITY.match(text):
        raise InvalidInput(f"{what} must be a DICOM modality code such as MR or CT, got {str(value)[:32]!r}")
    return text


def image_modality(image):
    """The Modality a SimpleITK image carries from its DICOM header, or None (NRRD, NIfTI, raw voxels)."""
    try:
        if image.HasMetaDataKey(MODALITY_TAG):
            return normalise_modality(image.GetMetaData(MODALITY_TAG), "the DICOM Modality")
    except (AttributeError, InvalidInput):
        return None
    return None


def study_modality(image, hint=None):
    """The study's modality and where it came from: ``(modality, source, warnings)``.

    The DICOM header wins over a user-given ``hint``; a disagreement is reported as a warning.
    """
    hint = normalise_modality(hint)
    header = image_modality(image) if image is not None else None
    if header is not None:
        warnings = []
        if hint is not None and hint != header:
            warnings.append(
                f"the image's DICOM header says Modality {header}, the request says {hint}: using {header}"
            )
        return header, "DICOM header", warnings
    if hint is not None:
        return hint, "given by the user", []
    return None, None, []


def _covariance(Z):
    cov = np.atleast_2d(np.cov(Z, rowvar=False))
    return cov + _RIDGE * max(float(np.trace(cov)) / cov.shape[0], 1e-300) * np.eye(cov.shape[0])


def mahalanobis(Z, mean, covariance):
    """Mahalanobis distances of the rows of ``Z`` to ``mean`` under ``covariance``."""
    D = np.atleast_2d(Z) - mean
    solved = np.linalg.solve(covariance, D.T).T
    return np.sqrt(np.maximum(np.einsum("ij,ij->i", D, solved), 0.0))


def leave_one_out_distances(Z):
    """Distance of each row to the mean and covariance of all the other rows."""
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    out = np.empty(n)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        keep[i] = False
        others = Z[keep]
        out[i] = mahalanobis(Z[i], others.mean(axis=0), _covariance(others))[0]
        keep[i] = True
    return out


def fit_domain(
    X,
    features,
    modality=None,
    field_strength=None,
    sequence=None,
    population="",
    percentile=DOMAIN_PERCENTILE,
    selected=None,
):
    """The card's ``applicability_domain`` from the training cases' feature values ``X``.

    Parameters
    ----------
    X : numpy.ndarray
        ``(cases, k)`` values of the domain features of the training cases.
    features : list of str
        Their names.
    modality, field_strength, sequence : str or None
        What the training images were (None: not known).
    population : str
        Which cases ``X`` holds (for the card).
    percentile : float
        Percentile of the leave-one-out distances that becomes the threshold.
    selected : list of str or None
        Which of ``features`` the model itself uses (for the card).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] < X.shape[1] + 3:
        raise ValueError(f"{X.shape[0]} cases cannot describe the distribution of {X.shape[1]} features")
    centre, spread = X.mean(axis=0), X.std(axis=0)
    spread[spread == 0] = 1.0
    Z = (X - centre) / spread
    distances = leave_one_out_distances(Z)
    threshold = float(np.percentile(distances, percentile))
    return {
        "modality": normalise_modality(modality),
        "field_strength_t": field_strength,
        "sequence": sequence,
        "features": list(features),
        "selected_features": list(selected if selected is not None else features),
        "feature_mean": [float(v) for v in centre],
        "feature_sd": [float(v) for v in spread],
        "space": "z = (value - feature_mean) / feature_sd per feature; mean and covariance of z",
        "mean": [float(v) for v in Z.mean(axis=0)],
        "covariance": [[float(v) for v in row] for row in _covariance(Z)],
        "n_cases": int(X.shape[0]),
        "population": population,
        "distance": "Mahalanobis",
        "threshold": threshold,
        "threshold_percentile": float(percentile),
        "threshold_method": (
            f"{percentile:g}th percentile of the leave-one-out Mahalanobis distances of the {X.shape[0]} "
            "training cases (each against the mean and covariance of the others)"
        ),
        "training_distances": {
            "median": float(np.median(distances)),
            "max": float(distances.max()),
        },
    }


class Domain:
    """A loaded applicability domain (the card's ``applicability_domain``)."""

    def __init__(self, data):
        self.data = data
        self.modality = data.get("modality")
        self.features = list(data["features"])
        self.centre = np.asarray(data["feature_mean"], dtype=np.float64)
        self.spread = np.asarray(data["feature_sd"], dtype=np.float64)
        self.mean = np.asarray(data["mean"], dtype=np.float64)
        self.covariance = np.atleast_2d(np.asarray(data["covariance"], dtype=np.float64))
        self.threshold = float(data["threshold"])
        k = len(self.features)
        if self.covariance.shape != (k, k) or not self.mean.size == self.centre.size == self.spread.size == k:
            raise ValueError("applicability domain: its features, means and covariance disagree in size")

    def distance(self, values):
        """Mahalanobis distance of one study's domain feature values (raw, in :attr:`features` order)."""
        z = (np.asarray(values, dtype=np.float64) - self.centre) / self.spread
        return float(mahalanobis(z, self.mean, self.covariance)[0])

    def assess(self, features, modality):
        """``(applicability, reasons, distance)`` of a study's ``{feature: value}``: inside or outside."""
        reasons = []
        if modality is not None and self.modality is not None and modality != self.modality:
            reasons.append(f"modality {modality} (the model was trained on {self.modality})")
        values = [float(features[name]) for name in self.features]
        undefined = [name for name, v in zip(self.features, values, strict=True) if not math.isfinite(v)]
        if undefined:
            reasons.append(f"feature(s) undefined for this ROI: {', '.join(undefined)}")
            return "outside", reasons, None
        distance = self.distance(values)
        if not math.isfinite(distance) or distance > self.threshold:
            reasons.append(
                f"feature distance {distance:.2f} beyond the training threshold {self.threshold:.2f} "
                f"(Mahalanobis on {len(self.features)} feature(s), "
                f"{self.data.get('threshold_percentile', DOMAIN_PERCENTILE):g}th percentile of training)"
            )
        return ("outside" if reasons else "inside"), reasons, distance
