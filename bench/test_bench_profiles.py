"""spinerad vs PyRadiomics on whole extraction profiles: PyRadiomics' full default set and exampleMR_3mm.

- ``full-default``: ``RadiomicsFeatureExtractor()`` defaults, every class (shape, firstorder, glcm, glrlm,
  glszm, gldm, ngtdm) on the Original image, ``additionalInfo`` off.
- ``exampleMR_3mm``: PyRadiomics' example parameter file unchanged (normalisation, resampling to 2 mm,
  LoG sigma 2-5 mm, wavelet), ``additionalInfo`` off.

Both sides get the same SimpleITK images in memory and must agree (1e-6 relative; shape 1e-6 too) before
anything is timed. Groups ``profile-<profile>[<case>]``; the summary prints PyRadiomics / spinerad.
"""

import logging
import warnings

import pytest
import yaml

import spinerad

pytestmark = [pytest.mark.shared, pytest.mark.oracle]

CASES = ["lung2", "ibsi_ct_phantom"]


def _profiles(peers):
    mr3 = yaml.safe_load((peers / "pyradiomics" / "settings" / "exampleMR_3mm.yaml").read_text())
    return {
        "full-default": {"setting": {"label": 1, "additionalInfo": False}},
        "exampleMR_3mm": {**mr3, "setting": {**mr3["setting"], "label": 1, "additionalInfo": False}},
    }


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
@pytest.mark.parametrize("profile", ["full-default", "exampleMR_3mm"])
@pytest.mark.parametrize("side", ["spinerad", "pyradiomics"])
def test_profile(benchmark, profile_pair, profile, study, side):
    """One whole extraction of the profile on the case (``study``: ``case`` is the conftest's own axis)."""
    ours, theirs = profile_pair(profile, study)
    benchmark.group = f"profile-{profile}[{study}]"
    benchmark.extra_info["side"] = side
    run = ours if side == "spinerad" else theirs
    rounds = 5 if side == "pyradiomics" or profile != "full-default" else 15
    result = benchmark.pedantic(run, rounds=rounds, warmup_rounds=1)
    assert len(result) > 100
