"""The parameter files shipped with spinerad (``spinerad/params/*.yaml``), usable by name on the command line.

``spinerad extract IMAGE MASK --params ibsi_ct_config_a`` reads ``spinerad/params/ibsi_ct_config_a.yaml``;
a path that exists always wins over a shipped name.
"""

from pathlib import Path

PARAMS_DIR = Path(__file__).resolve().parent / "params"


def shipped_profiles():
    """``{name: path}`` of the shipped parameter files, sorted by name."""
    return {path.stem: path for path in sorted(PARAMS_DIR.glob("*.yaml"))}


def resolve(params):
    """A ``--params`` value: an existing path as given, else a shipped profile's path, else unchanged."""
    if params is None or Path(params).exists() or Path(params).name != str(params):
        return params  # (a missing path with folders stays as given: load_params names it in its error)
    name = str(params).removesuffix(".yaml")
    path = shipped_profiles().get(name)
    return str(path) if path is not None else params


__all__ = ["PARAMS_DIR", "resolve", "shipped_profiles"]
