"""spinerad: PyRadiomics-exact radiomics features on Numba kernels, for spinal-metastasis marker prediction.

Python API::

    import spinerad
    features = spinerad.extract("image.nrrd", "mask.nrrd", params="params.yaml", label=1)
    # {'original_firstorder_Mean': ..., 'original_glcm_Contrast': ..., ...}

The names below are imported on first use (PEP 562), so ``import spinerad.cli`` or ``spinerad.service``
does not pay for NumPy, SimpleITK and Numba before a command needs them (``spinerad --help``, the gRPC
client) and a command can still choose settings that must precede those imports.
"""

import importlib

#: public name -> the submodule that defines it
_EXPORTS = {
    "ExtractionParams": "settings",
    "Settings": "settings",
    "SpineradError": "errors",
    "StageTimer": "pipeline",
    "__version__": "_version",
    "extract": "pipeline",
    "load_params": "settings",
    "read_study": "pipeline",
}


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spinerad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, a plain module attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


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
