"""The one rule for comparing spinerad's features with a reference: the live oracle or a published baseline.

``EXACT`` is for every path where spinerad does PyRadiomics' arithmetic (the live PyRadiomics 3.0.1 oracle,
same inputs): the two differ only by floating-point summation order and libm, ~1e-13 relative at most on
the reference machine (most values bit-identical). 1e-10 relative leaves a wide margin for another CPU or
libm, yet fails a float32 intermediate (~1e-7), a lost term or a changed formula, and even a perturbation
of 1e-9 (``tests/test_oracle_helper.py`` proves that). ``EXACT_ATOL`` only matters for values that are zero
up to rounding: a feature whose exact value is 0 (a symmetric distribution's ClusterShade, say) comes out as
the rounding residue of sums of terms of order 1, ~1e-15, with no meaningful relative difference. For values
in intensity units the residue scales with the intensities instead: the robust mean absolute deviation of
an ROI whose values are all 12254.61 is PyRadiomics' 0.0 but spinerad's 3.6e-12 (the mean summed in another
order lands one ulp off; found by the property test). ``scale`` (the largest |intensity| of the study) then
raises the floor to ``SCALE_ATOL * scale``, 45 ulps of that intensity: 1.2e-11 there.

Looser bounds belong only to published CSV baselines written by an older PyRadiomics (see their tests for
the measured differences), never to the live oracle.

:func:`oracle_features` runs the live oracle and :func:`read_case` loads a shared test case, the same way for
every oracle test module.
"""

import copy
import math
import warnings

import SimpleITK as sitk

from tests.conftest import CASES, require

EXACT_RTOL = 1e-10
EXACT_ATOL = 1e-13
SCALE_ATOL = 1e-14


def close(actual, expected, rtol=EXACT_RTOL, atol=EXACT_ATOL):
    """``actual`` equals ``expected`` within ``max(atol, rtol * |expected|)``; NaN equals only NaN."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return actual == expected or abs(actual - expected) <= max(atol, rtol * abs(expected))


def mismatches(
    actual, expected, rtol=EXACT_RTOL, atol=EXACT_ATOL, reference="PyRadiomics", same_names=True, scale=None
):
    """Lines describing every difference between two ``{feature name: value}`` mappings (empty: they match).

    ``same_names``: names only in ``actual`` count as differences too (otherwise only ``expected``'s names
    are checked, e.g. against a baseline that lists one class). ``scale``: the study's largest |intensity|,
    for the absolute floor of values that are zero up to rounding (see the module docstring).
    """
    if scale is not None:
        atol = max(atol, SCALE_ATOL * abs(scale))
    bad = [f"{name}: missing from spinerad" for name in expected if name not in actual]
    if same_names:
        bad += [f"{name}: only in spinerad" for name in actual if name not in expected]
    for name, want in expected.items():
        if name in actual and not close(actual[name], want, rtol, atol):
            got = actual[name]
            relative = abs(got - want) / abs(want) if want else math.inf
            bad.append(f"{name}: spinerad {got!r} != {reference} {want!r} (rel. difference {relative:.1e})")
    return bad


def assert_features_match(actual, expected, context="", **options):
    """Fail with every differing feature listed; ``options`` as for :func:`mismatches`."""
    assert expected, f"the reference has no features{context}: the comparison would be empty"
    bad = mismatches(actual, expected, **options)
    assert not bad, f"{len(bad)}/{len(expected)} features differ{context}:\n" + "\n".join(bad)


def oracle_features(featureextractor, image, mask, params, label=None):
    """PyRadiomics' features ``{name: float}`` for these very inputs and PyRadiomics parameter mapping.

    ``featureextractor`` is ``radiomics.featureextractor`` (the ``oracle`` fixture or ``require_oracle()``);
    ``additionalInfo`` is switched off (no diagnostics entries). PyRadiomics turns any exception inside a
    feature into NaN: under pytest's warnings-as-errors a NumPy RuntimeWarning would silently change the
    oracle's answer, so it runs as in production, warnings ignored. ``label``: passed to ``execute``
    (otherwise the mapping's ``label`` setting, or 1).
    """
    params = copy.deepcopy(params)
    params["setting"] = {**(params.get("setting") or {}), "additionalInfo": False}
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if label is None:
            result = extractor.execute(image, mask)
        else:
            result = extractor.execute(image, mask, label=label)
    return {name: float(value) for name, value in result.items()}


def read_case(data_dir, case):
    """``(image, mask, label)`` of one shared PyRadiomics test case (``tests.conftest.CASES``)."""
    image_file, mask_file, label = CASES[case]
    image = sitk.ReadImage(str(require(data_dir / image_file)))
    mask = sitk.ReadImage(str(require(data_dir / mask_file)))
    return image, mask, label


def case_reader(data_dir):
    """``case -> (image, mask, label)``, each case read once (:func:`read_case`) and then shared."""
    loaded = {}

    def get(case):
        if case not in loaded:
            loaded[case] = read_case(data_dir, case)
        return loaded[case]

    return get
