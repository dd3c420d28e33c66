"""Shared fixtures of the marker-model tests: one simulated cohort, its feature cache, the demo registry."""

import json

import pytest

from spinerad.cli import main

#: A small simulated cohort: development centres A and B, external centre C, with clinical columns.
TASK = "egfr_tki_response"
CASES = {"A": 60, "B": 60, "C": 30}


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory):
    """Folder of the simulated cohort (``cohort.csv``, ``images/``, the simulator's sidecar)."""
    from spinerad.models.simulate import simulate_cohort

    folder = tmp_path_factory.mktemp("cohort")
    simulate_cohort(folder, TASK, CASES, seed=0, clinical=True, centres=tuple(CASES))
    return folder


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    """One per-case feature cache for every training run of the session (each case is extracted once)."""
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def demo_registry():
    """The shipped demo models."""
    from spinerad.models.registry import load_models

    return load_models()


@pytest.fixture(scope="session")
def sample_features(demo_registry):
    """Features of the synthetic sample study, extracted with the demo models' parameters."""
    import spinerad
    from spinerad.sample import make_sample_study

    image, mask = make_sample_study(0)
    return spinerad.extract(image, mask, params=demo_registry.extraction_params)


def run_cli(capsys, *argv):
    """Run ``spinerad`` in-process; return ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_card(folder):
    """The JSON card of a model folder."""
    return json.loads((folder / "card.json").read_text())
