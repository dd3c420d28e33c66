"""A real Orthanc PACS for the tests: started from a generated config on free loopback ports, stopped after.

Orthanc (Debian packages ``orthanc`` + ``orthanc-dicomweb``) does not start by itself; the tests run
``/usr/sbin/Orthanc CONFIG.json`` with its storage in a temporary folder, HTTP refused from other hosts
(``RemoteAccessAllowed: false``), DICOM stores accepted only from the modalities named in the config (the
spinerad node on 127.0.0.1), authentication off and the DICOMweb plugin loaded. Orthanc 1.10 has no
bind-address option: its ports listen on every interface, but answer only loopback clients as configured.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from ..conftest import skip_or_fail

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN_PACKAGE = "orthanc-dicomweb"


def free_port():
    """A TCP port free on 127.0.0.1 now (bind port 0, read it, close)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dicomweb_plugin():
    """Path of the DICOMweb plugin .so, from the Debian package's file list; None when not installed."""
    try:
        listing = subprocess.run(
            ["dpkg", "-L", DICOMWEB_PLUGIN_PACKAGE], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in listing.splitlines():
        if "/plugins/" in line and line.endswith(".so") and Path(line).exists():
            return line
    return None


def missing():
    """Why Orthanc cannot run here (a sentence), or None when it can."""
    if not Path(ORTHANC).exists() or not shutil.which("dpkg"):
        return f"Orthanc is not installed ({ORTHANC}; Debian packages orthanc and {DICOMWEB_PLUGIN_PACKAGE})"
    if dicomweb_plugin() is None:
        return f"the Orthanc DICOMweb plugin is not installed (Debian package {DICOMWEB_PLUGIN_PACKAGE})"
    return None


def started_orthanc(folder, modalities):
    """A started :class:`Orthanc` for a fixture; skips where Orthanc cannot run (fails under CI=true)."""
    why = missing()
    if why:
        skip_or_fail(why)
    server = Orthanc(folder, modalities)
    server.start()
    return server


class Orthanc:
    """One Orthanc process: ``start()``, REST helpers, ``stop()``; ``restart()`` keeps its storage and ports."""

    def __init__(self, folder, modalities=None, aet="ORTHANC"):
        self.folder = Path(folder)
        self.aet = aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.modalities = dict(modalities or {})
        self.process = None
        self.log_path = self.folder / "orthanc.log"

    @property
    def url(self):
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self):
        """Root of the DICOMweb (QIDO/WADO/STOW-RS) API."""
        return f"{self.url}/dicom-web"

    def config(self):
        """The generated configuration."""
        storage = self.folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        return {
            "Name": "spinerad-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            "DicomCheckCalledAet": False,
            # Stores only from the configured modalities (the node), from their configured host.
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {name: list(entry) for name, entry in self.modalities.items()},
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "StudiesMetadata": "Full",
            },
            "DicomAssociationCloseDelay": 0,
            "StableAge": 1,
            "ConcurrentJobs": 1,
            "SaveJobs": False,
            "HttpTimeout": 60,
        }

    def start(self, timeout=30.0):
        """Start Orthanc and wait until its REST API answers."""
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(self.config(), indent=2))
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if requests.get(f"{self.url}/system", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Orthanc did not answer within {timeout} s: {self.log_tail()}")

    def stop(self):
        """Stop Orthanc (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def restart(self):
        """Stop and start again on the same ports and storage."""
        self.stop()
        return self.start()

    def log_tail(self, lines=20):
        """The last lines of Orthanc's log (for failure messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- REST helpers --------------------------------------------------------------------------------------

    def get(self, path, **kwargs):
        """GET a REST path; JSON answer."""
        response = requests.get(self.url + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def post(self, path, body=None, data=None, timeout=120):
        """POST to a REST path; JSON answer."""
        response = requests.post(self.url + path, json=body, data=data, timeout=timeout)
        response.raise_for_status()
        return response.json() if response.content else None

    def upload(self, paths):
        """Store DICOM files in Orthanc (REST /instances); returns their Orthanc ids."""
        return [self.post("/instances", data=Path(p).read_bytes())["ID"] for p in paths]

    def study_id(self, study_uid):
        """Orthanc's id of a StudyInstanceUID, or None."""
        found = self.post("/tools/lookup", data=study_uid)
        return next((item["ID"] for item in found if item["Type"] == "Study"), None)

    def push(self, modality, resource_ids, timeout=120):
        """Orthanc C-STOREs resources to a configured modality (REST /modalities/NAME/store, synchronous)."""
        return self.post(
            f"/modalities/{modality}/store",
            {"Resources": list(resource_ids), "Synchronous": True},
            timeout=timeout,
        )

    def instances_of_series(self, series_id):
        """Instance ids of an Orthanc series."""
        return self.get(f"/series/{series_id}")["Instances"]

    def clear(self):
        """Delete every patient (a clean PACS for the next test)."""
        for patient in self.get("/patients"):
            requests.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()
