"""Optional peers on the full default set: fastrad and Nyxus beside spinerad, when they are installed.

Neither peer is a dependency and the test line never installs them (``pip install fastrad`` / ``nyxus``
by hand to run these groups); each group skips when its peer is absent, also under ``CI=true``, because
the peers are optional. Groups ``peers-full-default[<case>]``, sides ``spinerad`` and the peer's name;
the summary prints peer / spinerad.

- spinerad: the full default set (7 classes, Original image), images already in memory.
- Nyxus (``Nyxus3D``, its documented 3-D API) with the groups that match PyRadiomics' seven classes
  (intensity, morphology, GLCM, GLRLM, GLSZM, GLDM, NGTDM; not GLDZM/NGLDM): features of NIfTI files, so
  its timing includes its own file reading (the files are written once, untimed, from the same images).
- fastrad: its documented ``FeatureExtractor`` on the same SimpleITK images, CPU device. The adapter is
  written against fastrad's documentation and skips with the reason when the installed API differs.

Only speed is compared: the peers' feature definitions differ from PyRadiomics' in places.
"""

import importlib
import inspect

import pytest

import spinerad

pytestmark = pytest.mark.shared

FULL_DEFAULT = {"setting": {"label": 1, "additionalInfo": False}}
CASES = ["lung2", "brain1", "ibsi_ct_phantom"]
NYXUS_GROUPS = [
    "*3D_ALL_INTENSITY*",
    "*3D_ALL_MORPHOLOGY*",
    "*3D_GLCM*",
    "*3D_GLRLM*",
    "*3D_GLSZM*",
    "*3D_GLDM*",
    "*3D_NGTDM*",
]


def _peer(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.skip(f"optional peer {name} is not installed (pip install {name}; the tests never install it)")


def _nyxus_runner(load_case, case, tmp_path_factory):
    nyxus = _peer("nyxus")
    import SimpleITK as sitk

    folder = tmp_path_factory.mktemp(f"nyxus-{case}")
    image, mask = load_case(case)
    image_file, mask_file = str(folder / "image.nii.gz"), str(folder / "mask.nii.gz")
    sitk.WriteImage(image, image_file)
    sitk.WriteImage(mask, mask_file)
    if not hasattr(nyxus, "Nyxus3D"):
        pytest.skip("this Nyxus has no Nyxus3D (3-D volumes need nyxus >= 0.9)")
    extractor = nyxus.Nyxus3D(NYXUS_GROUPS)
    return lambda: extractor.featurize_files([image_file], [mask_file], False)


def _fastrad_runner(load_case, case):
    fastrad = _peer("fastrad")
    image, mask = load_case(case)
    extractor_class = getattr(fastrad, "FeatureExtractor", None)
    if extractor_class is None or not callable(getattr(extractor_class, "extract", None)):
        pytest.skip(f"fastrad {getattr(fastrad, '__version__', '?')}: no FeatureExtractor.extract to call")
    kwargs = {"device": "cpu"} if "device" in inspect.signature(extractor_class).parameters else {}
    extractor = extractor_class(**kwargs)
    return lambda: extractor.extract(image, mask)


@pytest.mark.parametrize("study", CASES)
@pytest.mark.parametrize("side", ["spinerad", "nyxus", "fastrad"])
def test_peer_full_default(benchmark, load_case, tmp_path_factory, side, study):
    """One full-default extraction by ``side`` on the case."""
    if side == "nyxus":
        run = _nyxus_runner(load_case, study, tmp_path_factory)
    elif side == "fastrad":
        run = _fastrad_runner(load_case, study)
    else:
        image, mask = load_case(study)
        params = spinerad.load_params(FULL_DEFAULT)
        run = lambda: spinerad.extract(image, mask, params=params)  # noqa: E731
    run()  # warm-up: JIT, caches, lazy imports
    benchmark.group = f"peers-full-default[{study}]"
    benchmark.extra_info["side"] = side
    result = benchmark.pedantic(run, rounds=5, iterations=1)
    assert result is not None
