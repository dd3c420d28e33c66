"""spinerad vs PyRadiomics: one full extraction (firstorder + glcm + glrlm), same case, same settings.

Both sides get SimpleITK images already in memory (file loading is not timed) and the same parameters
(``params`` fixture: PyRadiomics defaults restricted to the three classes, ``additionalInfo`` off). Before
either side is timed, both run once on the case and their values must agree within 1e-6 relative: that
also warms spinerad's JIT and PyRadiomics' imports, so no benchmark times a compile or a wrong answer.
``case`` is parametrized over the reference cases by ``conftest.py``. Each case is one benchmark group
``extract[<case>]``; the session summary prints the ratio PyRadiomics median / spinerad median.
"""

import pytest

import spinerad

pytestmark = [pytest.mark.shared, pytest.mark.oracle]

#: firstorder 18 + glcm 24 + glrlm 16 features.
N_FEATURES = 58


@pytest.fixture(scope="session")
def checked_case(load_case, pyradiomics_extractor, params, same_features):
    """Return a function giving ``(image, mask)`` of a case whose two extractions agree (checked once)."""
    checked = set()

    def get(name):
        image, mask = load_case(name)
        if name not in checked:
            ours = spinerad.extract(image, mask, params=params)
            theirs = pyradiomics_extractor.execute(image, mask)
            same_features(ours, theirs)
            checked.add(name)
        return image, mask

    return get


def test_spinerad(benchmark, checked_case, params, case):
    """spinerad.extract on images in memory."""
    image, mask = checked_case(case)
    benchmark.group = f"extract[{case}]"
    benchmark.extra_info["side"] = "spinerad"
    features = benchmark(spinerad.extract, image, mask, params=params)
    assert len(features) == N_FEATURES


def test_pyradiomics(benchmark, checked_case, pyradiomics_extractor, case):
    """RadiomicsFeatureExtractor.execute on the same images and settings."""
    image, mask = checked_case(case)
    benchmark.group = f"extract[{case}]"
    benchmark.extra_info["side"] = "pyradiomics"
    features = benchmark(pyradiomics_extractor.execute, image, mask)
    assert len(features) == N_FEATURES
