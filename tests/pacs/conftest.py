"""Fixtures of the PACS tests: a real Orthanc, spinerad DICOM nodes as real processes, test studies."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import SimpleITK as sitk

from ..conftest import CASES, PYRADIOMICS_DATA, require
from .build import write_study
from .orthanc import free_port, started_orthanc

NODE_AET = "SPINERAD"
ORTHANC_AET = "ORTHANC"
MODALITY = "spinerad"
#: The shared node's per-study instance limit (a test study has 22 instances).
SHARED_NODE_MAX_INSTANCES = 30


def wait_for(predicate, timeout=60.0, interval=0.1, what="condition", context=None):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds.

    ``context`` (a callable returning text, e.g. a node's log) is added to the failure message.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}" + (f"\n{context()}" if context else ""))


@pytest.fixture(scope="session")
def node_port():
    """The DICOM port every node of this session binds (Orthanc's modality entry points to it)."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, node_port):
    """A running Orthanc with the DICOMweb plugin and the node as modality ``spinerad``."""
    server = started_orthanc(
        tmp_path_factory.mktemp("orthanc"), {MODALITY: [NODE_AET, "127.0.0.1", node_port]}
    )
    yield server
    server.stop()


class NodeProcess:
    """A ``spinerad dicom-node`` process; its stderr lines are collected in ``lines``."""

    def __init__(self, args, env=None):
        self.args = args
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spinerad", "dicom-node", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.metrics_port = None

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_started(self, timeout=120.0):
        """Wait for the startup line; return it."""

        def started():
            if self.process.poll() is not None:
                pytest.fail(f"dicom-node exited with {self.process.returncode}: {self.text()}")
            return next((line for line in self.lines if "listening on" in line), None)

        line = wait_for(started, timeout, what="the node's startup line")
        found = re.search(r"metrics on port (\d+)", line)
        self.metrics_port = int(found.group(1)) if found else None
        return line

    def text(self):
        """Everything the node logged so far."""
        return "\n".join(self.lines)

    def kill(self):
        """SIGKILL: no cleanup at all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._close()

    def _close(self):
        self._reader.join(10)
        self.process.stderr.close()

    def stop(self):
        """SIGTERM and wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        if not self.process.stderr.closed:
            self._close()
        return self.process.returncode


class NodeLauncher:
    """Starts ``spinerad dicom-node`` processes that store to the test Orthanc; :meth:`stop_all` after use."""

    def __init__(self, orthanc, node_port, folder):
        self.orthanc, self.node_port, self.folder = orthanc, node_port, folder
        self.started = []

    def __call__(self, spool=None, extra=(), allow=("ORTHANC", "TESTSCU")):
        """Start one node (spool folder, extra CLI options, calling AEs allowed) and return it."""
        spool = spool or self.folder / "spool"
        args = [
            "--ae-title", NODE_AET, "--port", str(self.node_port),
            "--store-to", f"{ORTHANC_AET}@127.0.0.1:{self.orthanc.dicom_port}",
            "--spool", str(spool), "--quiet-seconds", "1", "--metrics-port", "0",
            "--store-backoff", "0.5", "--store-backoff-max", "2",
            *[x for title in allow for x in ("--allow-ae", title)], *extra,
        ]  # fmt: skip
        node = NodeProcess(args, dict(os.environ, PYTHONUNBUFFERED="1"))
        self.started.append(node)
        node.wait_started()
        return node

    def stop_all(self):
        """Stop every node this starter started."""
        for node in self.started:
            node.stop()


@pytest.fixture()
def start_node(orthanc, node_port, tmp_path):
    """Start a node (``start_node(spool=..., extra=[...])``) storing to the Orthanc; stopped after the test."""
    launcher = NodeLauncher(orthanc, node_port, tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def shared_node(orthanc, node_port, tmp_path_factory):
    """One node for the scenarios that need no restart (module scope: its startup is paid once)."""
    launcher = NodeLauncher(orthanc, node_port, tmp_path_factory.mktemp("node"))
    yield launcher(extra=["--max-instances", str(SHARED_NODE_MAX_INSTANCES)])
    launcher.stop_all()


def send_instances(port, paths, ae_title="TESTSCU", abort=False):
    """C-STORE ``paths`` to the node as ``ae_title``; abort instead of releasing when ``abort``.

    Returns the statuses, or None when the association was rejected.
    """
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(str(p)) for p in paths]
    ae = AE(ae_title=ae_title)
    for sop_class in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop_class, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
    if not assoc.is_established:
        return None
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    if abort:
        assoc.abort()
    else:
        assoc.release()
    return statuses


@pytest.fixture(scope="session")
def breast1():
    """breast1 (MR, 45x120x21) image and label map from ../shared."""
    folder = require(PYRADIOMICS_DATA)
    image_file, mask_file, _label = CASES["breast1"]
    image = sitk.ReadImage(str(folder / image_file))
    mask = sitk.Cast(sitk.ReadImage(str(folder / mask_file)), sitk.sitkUInt8)
    return image, mask


@pytest.fixture()
def make_study(breast1, tmp_path):
    """``make_study(name, **options)`` writes a breast1 study (series + SEG) under tmp_path/name."""

    def make(name="study", **options):
        image, mask = breast1
        return write_study(tmp_path / name, image, mask, **options)

    return make
