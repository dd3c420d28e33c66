"""The feature -> DICOM code table: IBSI codes and SR keys.

Every IBSI code exists in DICOM's (pydicom's) IBSI list and names the same family; every feature of every
class and image type gets a distinct SR key.
"""

import pydicom.sr._concepts_dict as concepts
import pytest

from spinerad.dicom.codes import IBSI, feature_code
from spinerad.dicom.results import feature_key
from spinerad.features import FEATURE_CLASSES

#: words every IBSI meaning of a class's features must contain (one of them)
FAMILY_WORDS = {
    "glcm": ("GLCM",),
    "glrlm": ("Run",),
    "glszm": ("Size Zone", "Zone Size", "Zone Emphasis", "Zone"),
    "gldm": ("NGLDM", "ependence", "count"),
    "ngtdm": ("NGTDM",),
    "firstorder": ("Intensity Histogram",),
    "shape": ("Volume", "Area", "Sphericity", "Diameter", "Axis", "Elongation", "Flatness", "Surface"),
}


def test_ibsi_codes_exist_and_name_the_right_family():
    known = {
        value: meaning
        for entry in concepts.concepts["IBSI"].values()
        for value, (meaning, _) in entry.items()
    }
    for cls, table in IBSI.items():
        for name in table:
            code = feature_code(f"original_{cls}_{name}")
            assert code.name.value in known, (cls, name)
            assert any(word in code.name.meaning for word in FAMILY_WORDS[cls]), (
                cls,
                name,
                code.name.meaning,
            )
    # GLSZM rows are zone codes (PyRadiomics' dcmqi lab script mislabels some); spot-check the known traps
    assert feature_code("original_glszm_SizeZoneNonUniformity").name.meaning == "Zone Size Nonuniformity"
    assert feature_code("original_glszm_GrayLevelNonUniformity").name.meaning == (
        "Gray Level Nonuniformity of Size Zone Counts"
    )
    assert feature_code("original_glszm_ZonePercentage").name.meaning == "Size Zone Percentage"


@pytest.mark.parametrize("prefix", ["original", "wavelet-LLH", "log-sigma-3-0-mm-3D", "squareroot"])
def test_every_feature_has_its_own_sr_key(prefix):
    keys = {}
    for cls, feature_class in FEATURE_CLASSES.items():
        for name in feature_class.resolve(None):
            feature = f"{prefix}_{cls}_{name}"
            key = feature_key(feature, "MR")
            assert key not in keys, (feature, keys.get(key))
            keys[key] = feature
    assert len(keys) > 100
