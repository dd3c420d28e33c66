"""FeatureMaps over a real server on loopback: the streamed maps equal spinerad.voxel's for the same study."""

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad.voxel as voxel_maps
from spinerad.service.client import ServiceError
from spinerad.settings import load_params
from tests.service.conftest import WAIT, sample_arrays, sample_study


def _images():
    image, mask, spacing, origin = sample_arrays()
    out = []
    for array in (image, mask):
        item = sitk.GetImageFromArray(array)
        item.SetSpacing(spacing)
        item.SetOrigin(origin)
        out.append(item)
    return out


def test_feature_maps_stream_equals_the_pipeline(server):
    # The reference first: on a cold JIT cache it compiles the voxel kernels (the in-thread server shares
    # them), so the RPC's deadline measures the stream, not a first compile.
    image, mask = _images()
    expected = voxel_maps.feature_maps(image, mask, load_params(None))
    client = server.client()
    maps = client.feature_maps(
        sample_study("maps-1", profile="pyradiomics"), chunk_bytes=1 << 16, timeout=WAIT
    )
    assert sorted(maps) == sorted(expected)
    assert "original_glcm_Contrast" in maps
    for name, ref in expected.items():
        got = maps[name]
        assert got.GetSize() == ref.GetSize()
        assert got.GetOrigin() == ref.GetOrigin() and got.GetSpacing() == ref.GetSpacing()
        assert got.GetDirection() == ref.GetDirection()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(ref))


def test_feature_maps_refuse_an_unknown_profile(server):
    client = server.client()
    with pytest.raises(ServiceError, match="INVALID_ARGUMENT: unknown extraction profile"):
        client.feature_maps(sample_study("maps-2", profile="nope"), timeout=WAIT)
