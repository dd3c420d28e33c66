"""Service test fixtures: an in-process server on loopback, sample studies, DICOM series and certificates."""

import asyncio
import locale
import threading
import urllib.request

import numpy as np
import pytest
import SimpleITK as sitk
from prometheus_client.parser import text_string_to_metric_families

from spinerad.sample import make_sample_study
from spinerad.service.client import Client, Study, Volume
from spinerad.service.server import ServiceConfig, SpineradServer

from ..conftest import PYRADIOMICS_DATA, require
from .gated import GatedRegistry
from .harness import WAIT


class InThreadServer:
    """A :class:`SpineradServer` with its own event loop thread, on 127.0.0.1 and free ports."""

    def __init__(self, registry=None, load_gate=None, **config):
        self.registry = registry or GatedRegistry()
        config = {"host": "127.0.0.1", "port": 0, "metrics_port": 0, "workers": 2, "queue_size": 4, **config}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-server-loop", daemon=True)
        self.thread.start()
        self.server = SpineradServer(ServiceConfig(**config))
        self._call(self.server.start())

        def load():
            if load_gate is not None:
                assert load_gate.wait(WAIT)
            return self.registry

        self.loading = asyncio.run_coroutine_threadsafe(self.server.load(load), self.loop)
        self._clients = []

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def wait_ready(self):
        """Block until models are loaded and kernels warm."""
        self.loading.result(WAIT)
        return self

    @property
    def engine(self):
        """The server's engine (admission, pool)."""
        return self.server.engine

    @property
    def target(self):
        """``host:port`` of the gRPC port."""
        return f"127.0.0.1:{self.server.port}"

    def client(self, **kwargs):
        """A client of this server (closed with the server)."""
        client = Client(self.target, **kwargs)
        self._clients.append(client)
        return client

    def metrics_text(self):
        """The /metrics page."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.server.metrics_port}/metrics", timeout=WAIT
        ) as r:
            return r.read().decode()

    def sample(self, name, **labels):
        """The value of one metric sample (0 when absent)."""
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0

    def stop(self, grace=0):
        """Drain and stop; join the loop thread."""
        for client in self._clients:
            client.close()
        try:
            self._call(self.server.drain(grace))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()


@pytest.fixture(scope="session")
def server():
    """A ready server shared by the tests that do not change its state (2 workers, queue 4)."""
    running = InThreadServer().wait_ready()
    yield running
    running.stop()


@pytest.fixture
def client(server):
    """A client of the shared server."""
    return server.client()


def sample_arrays(seed=0):
    """The synthetic spine study as arrays: image (int16), mask (uint8), spacing, origin (ITK order)."""
    image, mask = make_sample_study(seed)
    return (
        sitk.GetArrayFromImage(image),
        sitk.GetArrayFromImage(mask),
        image.GetSpacing(),
        image.GetOrigin(),
    )


def sample_study(request_id="sample", tasks=(), **kwargs):
    """The synthetic study as a client :class:`Study` with raw volumes."""
    image, mask, spacing, origin = sample_arrays()
    return Study(
        Volume.from_array(image, spacing, origin),
        Volume.from_array(mask, spacing, origin),
        request_id=request_id,
        tasks=tasks,
        **kwargs,
    )


def assert_serving(server):
    """The server answers health SERVING and a valid study succeeds."""
    client = server.client()
    assert client.health() == "SERVING"
    result = client.analyze_study(sample_study("check", tasks=("ki67_high",)), timeout=WAIT)
    assert result["features"] and len(result["predictions"]) == 1


@pytest.fixture(scope="session")
def brain1():
    """Paths of PyRadiomics' brain1 case."""
    data = require(PYRADIOMICS_DATA)
    return data / "images" / "brain1_image.nrrd", data / "images" / "brain1_label.nrrd"


def write_dicom_series(
    folder, array, spacing=(0.8, 0.8, 3.0), series_uid="1.2.826.0.1.3680043.2.1125.1", skip=(), modality="MR"
):
    """Write ``array`` (z, y, x int16) as one DICOM file per slice; ``skip`` leaves slices out."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        return _write_dicom_series(folder, array, spacing, series_uid, skip, modality)
    finally:
        # GDCM's writer can leave the C library in the "C" locale; later text reads of the test process
        # without an explicit encoding would then decode ASCII. Restore the process' locale.
        locale.setlocale(locale.LC_ALL, saved)


def _write_dicom_series(folder, array, spacing, series_uid, skip, modality):
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    for z in range(array.shape[0]):
        if z in skip:
            continue
        slice_image = sitk.GetImageFromArray(array[z : z + 1].astype(np.int16))
        slice_image.SetSpacing(spacing)
        tags = {
            "0008|0060": modality,
            "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
            "0008|0018": f"{series_uid}.{z + 1}",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.9",
            "0020|000e": series_uid,
            "0020|0013": str(z + 1),
            "0020|0032": f"0\\0\\{z * spacing[2]}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]),
        }
        for key, value in tags.items():
            slice_image.SetMetaData(key, value)
        path = folder / f"slice{z:03d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(slice_image)
        paths.append(path)
    return paths
