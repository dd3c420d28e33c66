"""The version of spinerad, from one source: ``version`` in ``pyproject.toml``.

An installed spinerad (a wheel, or ``pip install -e .``) reads it from its package metadata; a source
checkout that is not installed reads ``pyproject.toml`` beside the package. Cache keys (cohort parts, model
cards, DICOM UIDs) include it, so it must not be written a second time anywhere. An editable install keeps
the version it was installed with: install again after changing it.
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _read_version():
    try:
        return version("spinerad")
    except PackageNotFoundError:
        pass
    import tomllib  # only in an uninstalled checkout (3 ms of import otherwise spent on every start)

    try:
        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"


__version__ = _read_version()
