"""PACS benchmark against a real Orthanc: DICOM node turnaround, and gRPC reference mode vs uploaded bytes.

The study is the service benchmark's 512 x 512 x 20 MRI-sized volume (int16, a lesion of ~26 000 voxels),
written as a DICOM MR series with a BINARY SEG of the lesion, fresh UIDs per round. Reported (not asserted):

- **node turnaround**: Orthanc pushes the study to ``spinerad dicom-node`` (REST ``/modalities/NAME/store``,
  synchronous: it returns after the last C-STORE and the release); the time from then until the SR is
  found in Orthanc (QIDO-RS polled every 20 ms). It includes the node's quiet period (``QUIET_S``), which is
  also subtracted, and the node's own analysis time from its log;
- **gRPC, client side p50 / p95**: the same study by reference (the server fetches it with WADO-RS) and
  uploaded as bytes (the 20 DICOM files + the mask as a zlib-compressed label map), one study at a time;
  reference mode with ``store_results`` (STOW-RS of the SR) too;
- **service overhead in reference mode**: everything but features + inference, as a share of the study's
  client-side latency and of the server's own total (target <= 20 %); also with the "pyradiomics" profile
  (every PyRadiomics feature class, ExtractFeatures), where the compute is larger.

Timed: ``python -m pytest bench/test_bench_pacs.py --benchmark-only -s`` (``SPINERAD_BENCH_ROUNDS``, default
10). Smoke: ``--benchmark-disable`` (2 rounds). Needs Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``).
"""

import os
import re
import statistics
import time

import pytest
import requests
import SimpleITK as sitk
from dicomweb_client.api import DICOMwebClient
from test_bench_service import SPACING, mri_study

from bench.harness import Report, ServeProcess, percentile, timed_analyze
from spinerad.dicom.series import read_series
from spinerad.pacs.dicomweb import SERIES_ACCEPT
from spinerad.service.client import Client, Study, Volume
from tests.dicom.build import write_series
from tests.pacs.build import write_seg
from tests.pacs.conftest import NodeProcess
from tests.pacs.orthanc import free_port, started_orthanc

QUIET_S = 0.5
WAIT = 300
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"


def rounds(benchmark):
    """Rounds per measurement: 2 for a smoke run."""
    return 2 if benchmark.disabled else int(os.environ.get("SPINERAD_BENCH_ROUNDS", "10"))


@pytest.fixture(scope="module")
def volumes():
    """The study as SimpleITK image + mask."""
    image, mask = mri_study()
    image = sitk.GetImageFromArray(image)
    image.SetSpacing(SPACING)
    mask_image = sitk.GetImageFromArray(mask)
    mask_image.CopyInformation(image)
    return image, mask_image


def write_study(folder, volumes):
    """Series + SEG with fresh UIDs; returns (study uid, paths, series paths)."""
    image, mask = volumes
    datasets = write_series(image, folder / "series")
    write_seg(datasets, mask, folder / "seg.dcm")
    series = sorted((folder / "series").iterdir())
    return str(datasets[0].StudyInstanceUID), series + [folder / "seg.dcm"], series


@pytest.fixture(scope="module")
def node_port():
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, node_port):
    server = started_orthanc(
        tmp_path_factory.mktemp("orthanc"), {"spinerad": ["SPINERAD", "127.0.0.1", node_port]}
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def report(request):
    return Report.register(request, "spinerad PACS benchmark")


def test_node_turnaround(benchmark, orthanc, node_port, volumes, tmp_path, report):
    """Last C-STORE received (Orthanc's push returned) to the SR stored in Orthanc."""
    benchmark.group = "pacs[512x512x20]"
    node = NodeProcess(
        [
            "--port",
            str(node_port),
            "--store-to",
            f"ORTHANC@127.0.0.1:{orthanc.dicom_port}",
            "--spool",
            str(tmp_path / "spool"),
            "--quiet-seconds",
            str(QUIET_S),
            "--allow-ae",
            "ORTHANC",
        ],  # fmt: skip
        dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    client = DICOMwebClient(orthanc.dicomweb_url)
    times, analysis = [], []
    try:
        node.wait_started(WAIT)

        def measure():
            for index in range(rounds(benchmark)):
                study_uid, paths, _series = write_study(tmp_path / f"s{index}", volumes)
                orthanc.upload(paths)
                orthanc.push("spinerad", [orthanc.study_id(study_uid)])
                pushed = time.perf_counter()
                deadline = pushed + WAIT
                while time.perf_counter() < deadline:
                    found = client.search_for_instances(study_uid, search_filters={"SOPClassUID": SR_CLASS})
                    if found:
                        break
                    time.sleep(0.02)
                else:
                    pytest.fail(f"no SR after {WAIT} s: {node.text()[-2000:]}")
                times.append((time.perf_counter() - pushed) * 1e3)

        benchmark.pedantic(measure, rounds=1, iterations=1)
        analysis = [float(m.group(1)) for m in re.finditer(r"ROI\(s\) analysed in (\d+) ms", node.text())]
    finally:
        node.stop()
    p50 = statistics.median(times)
    benchmark.extra_info.update({"turnaround_p50_ms": p50, "analysis_p50_ms": statistics.median(analysis)})
    report(
        f"node turnaround (last C-STORE -> SR in Orthanc), {len(times)} studies: p50 {p50:.0f} ms, p95 "
        f"{percentile(times, 95):.0f} ms, of which quiet period {QUIET_S * 1e3:.0f} ms -> {p50 - QUIET_S * 1e3:.0f} ms "
        f"without it; node analysis (read + features + inference + SR) p50 {statistics.median(analysis):.0f} ms"
        f" (each: {', '.join(f'{a:.0f}' for a in analysis)}); load average {os.getloadavg()[0]:.1f}"
    )
    assert len(times) == rounds(benchmark)


def _one(client, study):
    latency, stage_ms, _upload = timed_analyze(client, study)
    return _record(latency, stage_ms)


#: Server stages that are not features or inference: the service's own work.
SERVICE_STAGES = ("decode", "fetch", "store", "dicom_results", "total")


def _record(latency, stage_ms):
    compute = sum(
        v for k, v in stage_ms.items() if k not in SERVICE_STAGES
    )  # extraction stages + inference:*
    return {"latency_ms": latency, "compute_ms": compute, "server_ms": stage_ms["total"], **stage_ms}


def _features_only(client, study):
    started = time.perf_counter()
    result = client.extract_features(study, timeout=WAIT)
    return _record((time.perf_counter() - started) * 1e3, result["stage_ms"])


def test_reference_mode_vs_upload(benchmark, orthanc, volumes, tmp_path, report):
    """Client-side latency of one study by reference and uploaded as bytes; overhead share in reference mode."""
    benchmark.group = "pacs[512x512x20]"
    study_uid, paths, series = write_study(tmp_path / "grpc", volumes)
    orthanc.upload(paths)
    image = Volume.from_dicom_files(series)
    mask = Volume.from_image(volumes[1], compress=True)
    # shipped models; the Orthanc as DICOMweb endpoint "pacs"
    server = ServeProcess("--no-metrics", "--dicomweb", f"pacs={orthanc.dicomweb_url}")
    records = {"reference": [], "upload": [], "reference+store": [], "reference, all features": []}
    # the floor of any fetch: the raw WADO-RS series transfer (Orthanc's answer, no parsing)
    session, floor = requests.Session(), []
    series_uid = read_series(series).series_instance_uid
    series_url = f"{orthanc.dicomweb_url}/studies/{study_uid}/series/{series_uid}"
    try:
        with Client(server.target) as client:
            _one(client, Study.from_reference("pacs", study_uid, request_id="warm"))  # connection, caches
            _one(client, Study(image, mask, request_id="warm-upload"))

            def measure():
                for index in range(rounds(benchmark)):
                    records["reference"].append(
                        _one(client, Study.from_reference("pacs", study_uid, request_id=f"r{index}"))
                    )
                    records["upload"].append(_one(client, Study(image, mask, request_id=f"u{index}")))
                    records["reference, all features"].append(
                        _features_only(
                            client,
                            Study.from_reference(
                                "pacs", study_uid, profile="pyradiomics", request_id=f"f{index}"
                            ),
                        )
                    )
                    records["reference+store"].append(
                        _one(
                            client,
                            Study.from_reference(
                                "pacs", study_uid, store_results=True, request_id=f"s{index}"
                            ),
                        )
                    )
                    started = time.perf_counter()
                    response = session.get(series_url, headers={"Accept": SERIES_ACCEPT}, timeout=WAIT)
                    response.raise_for_status()
                    floor.append((time.perf_counter() - started) * 1e3)

            benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        assert server.close() == 0
    for mode, items in records.items():
        latency = [r["latency_ms"] for r in items]
        compute = statistics.median(r["compute_ms"] for r in items)
        p50 = statistics.median(latency)
        overhead = 100 * (p50 - compute) / p50
        server_share = statistics.median(
            100 * (r["server_ms"] - r["compute_ms"]) / r["server_ms"] for r in items
        )
        parts = ", ".join(
            f"{stage} {statistics.median(r.get(stage, 0.0) for r in items):.0f}"
            for stage in ("fetch", "decode", "dicom_results", "store")
            if any(stage in r for r in items)
        )
        benchmark.extra_info[f"{mode}_p50_ms"] = p50
        benchmark.extra_info[f"{mode}_overhead_pct"] = overhead
        report(
            f"gRPC {mode:24s}: client p50 {p50:.0f} ms, p95 {percentile(latency, 95):.0f} ms ({len(items)} studies); "
            f"features + inference {compute:.0f} ms; server stages {parts} ms; service overhead "
            f"{p50 - compute:.0f} ms = {overhead:.0f} % of the client latency, {server_share:.0f} % of the "
            f"server's total (target <= 20 %); load average {os.getloadavg()[0]:.1f}"
        )
    report(
        f"raw WADO-RS GET of the image series (the transfer floor of reference mode, no parsing): p50 "
        f"{statistics.median(floor):.0f} ms, p95 {percentile(floor, 95):.0f} ms"
    )
    assert all(records.values())
