"""spinerad: PyRadiomics-exact radiomics features on Numba kernels, for spinal-metastasis marker prediction.

Python API::

    import spinerad
    features = spinerad.extract("image.nrrd", "mask.nrrd", params="params.yaml", label=1)
    # {'original_firstorder_Mean': ..., 'original_glcm_Contrast': ..., ...}
"""

from ._version import __version__
from .errors import SpineradError
from .pipeline import StageTimer, extract, read_study
from .settings import ExtractionParams, Settings, load_params

__all__ = [
    "ExtractionParams",
    "Settings",
    "SpineradError",
    "StageTimer",
    "__version__",
    "extract",
    "load_params",
    "read_study",
]
