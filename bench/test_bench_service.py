"""Load benchmark of the gRPC service on loopback: N concurrent clients for a bounded time.

A real ``spinerad serve`` (shipped models) runs in its own process; client threads in this process upload a
512 x 512 x 20 MRI-sized study (int16 image raw, uint8 mask raw and zlib-compressed) with the library
client and wait for its last event. Reported, with the targets of the service issue:

- service overhead of one study: client-side latency minus (features + inference) over (features +
  inference), with its breakdown (upload, decode, rest), mask sent raw and compressed (target <= 20 %);
- p50 / p95 / p99 study latency at 8 concurrent clients, from the client side and from the server's
  ``spinerad_study_duration_seconds`` histogram (target p99 <= 2 x p50);
- throughput (studies/s) against the number of workers, 1 .. the cores available (target: near-linear).

Timed: ``python -m pytest bench/test_bench_service.py --benchmark-only`` (``SPINERAD_BENCH_SECONDS`` per
load, default 10). Smoke test: ``--benchmark-disable`` (every client runs one study; a few seconds).
The numbers are reported, not asserted: wall-clock targets do not belong in a pass/fail test.
"""

import itertools
import os
import resource
import statistics
import threading
import time

import numpy as np
import pytest
import SimpleITK as sitk

from bench.harness import Report, ServeProcess, percentile, timed_analyze
from spinerad.service.client import Client, Study, Volume
from spinerad.service.pool import default_workers

SHAPE = (20, 512, 512)
SPACING = (0.5, 0.5, 3.0)  # x, y, z (ITK order), mm
CLIENTS = 8
WAIT = 120
_RUNS = itertools.count()


def mri_study(seed=0):
    """A T2-like volume with smooth texture and a lesion of ~26 000 voxels (image int16, mask uint8)."""
    rng = np.random.default_rng(seed)
    noise = sitk.GetImageFromArray(rng.standard_normal(SHAPE).astype(np.float32))
    texture = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, 2.0))
    texture /= texture.std() + 1e-12
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    lesion = ((z - 10) / 4.0) ** 2 + ((y - 256) / 40.0) ** 2 + ((x - 256) / 40.0) ** 2 <= 1
    image = 600 + 120 * texture + rng.normal(0, 20, SHAPE)
    image[lesion] = 400 + 150 * texture[lesion]
    return np.clip(image, 0, 4095).astype(np.int16), lesion.astype(np.uint8)


@pytest.fixture(scope="module")
def volumes():
    """The study's image volume and its mask volume, raw and zlib-compressed (encoded once)."""
    image, mask = mri_study()
    return {
        "image": Volume.from_array(image, SPACING),
        "mask": Volume.from_array(mask, SPACING),
        "mask_zlib": Volume.from_array(mask, SPACING, compress=True),
    }


def serve_process(workers, processes=1, cpus=None):
    """``spinerad serve`` with /metrics, ``workers`` workers (each of ``processes`` processes)."""
    running = ServeProcess(
        "--metrics-port", "0", "--workers", str(workers), "--queue-size", str(4 * CLIENTS),
        "--processes", str(processes), serving="SERVING: all" if processes > 1 else "SERVING", cpus=cpus,
    )  # fmt: skip
    running.workers, running.processes = workers, processes
    return running


def histogram_quantile(q, before, after):
    """Prometheus' ``histogram_quantile`` over the observations between two scrapes (linear in a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, previous = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - previous) / max(count - previous, 1e-12)
        lower, previous = bound, count
    return lower


def one_study(client, volumes, request_id, mask_key="mask_zlib"):
    """Upload one study and wait for its last event; return the client-side times and server stage times."""
    study = Study(volumes["image"], volumes[mask_key], request_id=request_id)
    latency_ms, stage_ms, upload_ms = timed_analyze(client, study)
    inference = sum(v for k, v in stage_ms.items() if k.startswith("inference:"))
    features = sum(
        v for k, v in stage_ms.items() if k not in ("decode", "total") and not k.startswith("inference:")
    )
    return {
        "latency_ms": latency_ms,
        "upload_ms": upload_ms,
        "decode_ms": stage_ms["decode"],
        "features_ms": features,
        "inference_ms": inference,
    }


def run_load(server, volumes, clients, seconds, mask_key="mask_zlib"):
    """``clients`` threads, each with its own channel, send studies back to back for ``seconds``.

    Each client first runs one study that is not counted (connection set-up); then at least one study
    each, and more until the time is up. Returns the per-study records and the wall time of the window.
    """
    records, lock = [], threading.Lock()
    start_line = threading.Barrier(clients + 1)
    run = next(_RUNS)  # request ids unique across loads: a repeated id is answered from the replay cache
    errors = []

    def client_loop(index):
        try:
            with Client(server.target) as client:
                one_study(client, volumes, f"r{run}-warm-{index}", mask_key)
                start_line.wait(WAIT)
                deadline = time.monotonic() + seconds
                count = 0
                while count == 0 or time.monotonic() < deadline:
                    record = one_study(client, volumes, f"r{run}-c{index}-{count}", mask_key)
                    with lock:
                        records.append(record)
                    count += 1
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)
            start_line.abort()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        start_line.wait(WAIT)
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    for thread in threads:
        thread.join(WAIT + seconds)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return records, elapsed


def duration(benchmark):
    """Seconds per load window: 0 (one study per client) for a smoke run."""
    return 0.0 if benchmark.disabled else float(os.environ.get("SPINERAD_BENCH_SECONDS", "10"))


@pytest.fixture(scope="module")
def cores():
    """The cores this process may use (the workers of the full-size server)."""
    return default_workers()


@pytest.fixture(scope="module")
def server(cores):
    """``spinerad serve`` with one worker per core."""
    running = serve_process(cores)
    yield running
    assert running.close() == 0  # SIGTERM drains and exits 0


@pytest.fixture(scope="module")
def report(request):
    """``report(line)``: a line for the end-of-session summary."""
    return Report.register(request, "spinerad service benchmark")


def test_service_overhead_of_one_study(benchmark, server, volumes, report):
    """One client, studies back to back: what the service adds to features + inference."""
    benchmark.group = "service[512x512x20]"
    benchmark.extra_info["side"] = "overhead"
    seconds = duration(benchmark)
    results = {}

    def measure():
        for mask_key in ("mask", "mask_zlib"):
            results[mask_key], _elapsed = run_load(server, volumes, 1, seconds / 2, mask_key)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for mask_key, records in results.items():
        median = {key: statistics.median(r[key] for r in records) for key in records[0]}
        compute = median["features_ms"] + median["inference_ms"]
        overhead = median["latency_ms"] - compute
        rest = overhead - median["upload_ms"] - median["decode_ms"]
        benchmark.extra_info[f"overhead_pct_{mask_key}"] = 100 * overhead / compute
        report(
            f"overhead, mask {'zlib' if mask_key.endswith('zlib') else 'raw '}: latency "
            f"{median['latency_ms']:.1f} ms = "
            f"features {median['features_ms']:.1f} + inference {median['inference_ms']:.1f} + upload "
            f"{median['upload_ms']:.1f} + decode {median['decode_ms']:.1f} + rest {rest:.1f} ms -> service "
            "overhead "
            f"{100 * overhead / compute:.0f} % of compute, "
            f"{100 * (median['decode_ms'] + rest) / compute:.0f} % "
            f"without the upload (target <= 20 %; {len(records)} studies)"
        )
    assert all(r["features_ms"] > 0 for records in results.values() for r in records)


def test_latency_at_8_concurrent_clients(benchmark, server, volumes, report):
    """8 clients for a bounded time: client-side and server-side p50 / p95 / p99."""
    benchmark.group = "service[512x512x20]"
    benchmark.extra_info["side"] = f"{CLIENTS}-clients"
    seconds = duration(benchmark)
    labels = {"rpc": "Analyze", "code": "OK"}
    before = server.histogram("spinerad_study_duration_seconds", **labels)
    out = {}

    def measure():
        out["records"], out["elapsed"] = run_load(server, volumes, CLIENTS, seconds)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    after = server.histogram("spinerad_study_duration_seconds", **labels)
    latencies = [r["latency_ms"] for r in out["records"]]
    client_q = {q: percentile(latencies, q) for q in (50, 95, 99)}
    server_q = {q: 1e3 * histogram_quantile(q / 100, before, after) for q in (50, 95, 99)}
    throughput = len(latencies) / out["elapsed"]
    benchmark.extra_info.update(
        {f"client_p{q}_ms": v for q, v in client_q.items()}
        | {f"server_p{q}_ms": v for q, v in server_q.items()}
    )
    benchmark.extra_info["throughput_per_s"] = throughput
    report(
        f"{CLIENTS} clients, {server.workers} workers: {len(latencies)} studies in {out['elapsed']:.1f} s = "
        f"{throughput:.1f} studies/s; client p50/p95/p99 "
        f"{client_q[50]:.0f}/{client_q[95]:.0f}/{client_q[99]:.0f} ms "
        f"(p99/p50 {client_q[99] / client_q[50]:.2f}, target <= 2); server histogram p50/p95/p99 "
        f"{server_q[50]:.0f}/{server_q[95]:.0f}/{server_q[99]:.0f} ms"
    )
    assert len(latencies) >= CLIENTS


def test_throughput_against_workers(benchmark, cores, volumes, report):
    """Throughput with 1 .. cores workers (2 clients per worker keep every worker busy)."""
    benchmark.group = "service[512x512x20]"
    benchmark.extra_info["side"] = "scaling"
    seconds = duration(benchmark)
    counts = [1, cores] if benchmark.disabled else list(range(1, cores + 1))
    throughput = {}

    def measure():
        for workers in dict.fromkeys(counts):
            running = serve_process(workers)
            try:
                records, elapsed = run_load(running, volumes, 2 * workers, seconds)
            finally:
                assert running.close() == 0
            throughput[workers] = len(records) / elapsed

    benchmark.pedantic(measure, rounds=1, iterations=1)
    base = throughput[1]
    for workers, value in throughput.items():
        benchmark.extra_info[f"throughput_{workers}_workers"] = value
        report(
            f"{workers} worker(s), {2 * workers} clients: {value:.1f} studies/s = {value / base:.2f} x one "
            "worker "
            f"(linear: {workers}; efficiency {value / base / workers:.0%})"
        )
    assert all(value > 0 for value in throughput.values())


def test_throughput_one_against_two_processes(benchmark, cores, volumes, report):
    """1 process on 1 core against 2 processes on 2 cores (``--processes``), CPU time of both sides counted.

    The server is pinned (taskset) to as many cores as it has processes; the client threads run in this
    process, unpinned, and their CPU time is reported beside the server's.
    """
    benchmark.group = "service[512x512x20]"
    benchmark.extra_info["side"] = "processes"
    if cores < 2:
        pytest.skip("needs 2 cores")
    seconds = duration(benchmark)
    rows = {}

    def measure():
        for processes in (1, 2):
            running = serve_process(1, processes=processes, cpus=range(processes))
            try:
                client_cpu = resource.getrusage(resource.RUSAGE_SELF)
                server_cpu = running.cpu_seconds()
                records, elapsed = run_load(running, volumes, 3 * processes, seconds)
                server_cpu = running.cpu_seconds() - server_cpu
                after = resource.getrusage(resource.RUSAGE_SELF)
                client_cpu = after.ru_utime + after.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
            finally:
                assert running.close() == 0
            rows[processes] = (len(records) / elapsed, server_cpu / len(records), client_cpu / len(records))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    base = rows[1][0]
    for processes, (value, server_cpu, client_cpu) in rows.items():
        benchmark.extra_info[f"throughput_{processes}_processes"] = value
        report(
            f"{processes} process(es) on {processes} core(s), {3 * processes} clients: {value:.2f} studies/s = "
            f"{value / base:.2f} x one; CPU per study: server {server_cpu * 1e3:.0f} ms, client "
            f"{client_cpu * 1e3:.0f} ms; load average {os.getloadavg()[0]:.1f}"
        )
    assert all(row[0] > 0 for row in rows.values())
