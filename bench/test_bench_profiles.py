"""spinerad vs PyRadiomics on whole extraction profiles: the full default set and PyRadiomics' examples.

- ``full-default``: ``RadiomicsFeatureExtractor()`` defaults, every class (shape, firstorder, glcm, glrlm,
  glszm, gldm, ngtdm) on the Original image, ``additionalInfo`` off.
- ``exampleMR_3mm``: PyRadiomics' example parameter file unchanged (normalisation, resampling to 2 mm,
  LoG sigma 2-5 mm, wavelet), ``additionalInfo`` off.
- ``exampleCT``: PyRadiomics' CT example unchanged (no normalisation, B-spline resampling to 1 mm with
  padDistance 10, LoG sigma 1-5 mm, wavelet), ``additionalInfo`` off.

Both sides get the same SimpleITK images in memory and must agree (1e-6 relative; shape 1e-6 too) before
anything is timed. Groups ``profile-<profile>[<case>]``; the summary prints PyRadiomics / spinerad.
"""

import logging
import warnings

import pytest
import yaml

import spinerad

pytestmark = [pytest.mark.shared, pytest.mark.oracle]

CASES = ["lung2", "ibsi_ct_phantom", "brain1"]
PROFILES = ["full-default", "exampleMR_3mm", "exampleCT"]


def _profiles(peers):
    profiles = {"full-default": {"setting": {"label": 1, "additionalInfo": False}}}
    for name in ("exampleMR_3mm", "exampleCT"):
        example = yaml.safe_load((peers / "pyradiomics" / "settings" / f"{name}.yaml").read_text())
        profiles[name] = {**example, "setting": {**example["setting"], "label": 1, "additionalInfo": False}}
    return profiles


@pytest.fixture(scope="module")
def profile_pair(load_case, same_features, peers_dir):
    """(spinerad call, PyRadiomics call) for a (profile, case), checked to agree once."""
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    cache = {}

    def get(profile, case):
        key = (profile, case)
        if key not in cache:
            params = _profiles(peers_dir)[profile]
            image, mask = load_case(case)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extractor = featureextractor.RadiomicsFeatureExtractor(params)
                theirs = extractor.execute(image, mask)
            same_features(spinerad.extract(image, mask, params=params), theirs)

            def run_pyradiomics():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return extractor.execute(image, mask)

            cache[key] = (lambda: spinerad.extract(image, mask, params=params), run_pyradiomics)
        return cache[key]

    return get


@pytest.mark.parametrize("study", CASES)
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("side", ["spinerad", "pyradiomics"])
def test_profile(benchmark, profile_pair, profile, study, side):
    """One whole extraction of the profile on the case (``study``: ``case`` is the conftest's own axis)."""
    ours, theirs = profile_pair(profile, study)
    benchmark.group = f"profile-{profile}[{study}]"
    benchmark.extra_info["side"] = side
    run = ours if side == "spinerad" else theirs
    rounds = 3 if side == "pyradiomics" and profile == "exampleCT" else 5
    rounds = rounds if side == "pyradiomics" or profile != "full-default" else 15
    result = benchmark.pedantic(run, rounds=rounds, warmup_rounds=1)
    assert len(result) > 100
