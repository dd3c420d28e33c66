"""A bounded soak of the gRPC service: mixed good and bad studies for a set time, watched minute by minute.

``python -m bench.soak --duration 600`` (seconds; default 10 min) starts ``spinerad serve`` on loopback
(free ports) and runs client threads that send studies back to back, each call with a deadline: mostly
valid studies (the synthetic spine study and a 256 x 256 x 20 MRI-sized one), about 10 % bad ones of six
kinds (unknown task, absent label, NaN voxels, corrupt zlib, geometry mismatch, unreadable file), some
streams carrying several studies. Every interval (60 s; shorter for short runs) it records the server's
RSS, open file descriptors and threads (summed over its processes), the throughput and the p50/p95/p99
latency of the valid studies that finished in the interval. At the end it checks the server's
``spinerad_study_duration_seconds`` counts against what the clients saw, by status code, and that no
valid study failed. Prints one line per interval and a summary; ``--json FILE`` writes both. Exit code 0
when every check passed.

The short form runs in the test suite (``tests/service/test_soak.py``).
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from spinerad.sample import make_sample_study
from spinerad.service.client import Client, ServiceError, Study, Volume
from tests.service.harness import ServerProcess

WAIT = 120
BAD_KINDS = (
    "unknown_task",
    "absent_label",
    "nan_voxels",
    "corrupt_zlib",
    "geometry_mismatch",
    "unreadable_file",
)


class Server(ServerProcess):
    """``spinerad serve`` on 127.0.0.1 with free ports (the suites' one harness), watched for the soak."""

    def __init__(self, workers=2, queue_size=4, processes=1, extra=()):
        super().__init__(
            "--metrics-port", "0", "--workers", str(workers), "--queue-size", str(queue_size),
            "--processes", str(processes), *extra, module="spinerad", wait=WAIT * 2,
        )  # fmt: skip
        self.wait_serving(processes)

    def resources(self):
        """``(RSS MB, open fds, threads)`` summed over the server's processes."""
        rss = fds = threads = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                rss += int(fields["VmRSS"].split()[0]) / 1024
                threads += int(fields["Threads"])
                fds += len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, KeyError, ValueError):
                continue
        return rss, fds, threads

    def study_counts(self):
        """``{code: count}`` of the server's Analyze study-duration histogram."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=WAIT) as r:
            text = r.read().decode()
        counts = Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name != "spinerad_study_duration_seconds_count":
                    continue
                if sample.labels["rpc"] == "Analyze":
                    counts[sample.labels["code"]] += int(sample.value)
        return counts

    def close(self):
        """SIGTERM (drain) and wait; the exit code."""
        try:
            return self.terminate()
        finally:
            super().close()


# --- studies ------------------------------------------------------------------------------------------------


def _volumes():
    """Encoded volumes, made once: the valid studies and the parts of the bad ones."""
    import SimpleITK as sitk

    image, mask = make_sample_study(seed=0)
    spacing, origin = image.GetSpacing(), image.GetOrigin()
    small_image, small_mask = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask)
    rng = np.random.default_rng(1)
    shape = (20, 256, 256)
    mri = np.clip(600 + rng.normal(0, 60, shape), 0, 4095).astype(np.int16)
    lesion = np.zeros(shape, np.uint8)
    lesion[7:13, 100:150, 100:150] = 1
    nan_image = small_image.astype(np.float32)
    nan_image.flat[len(nan_image.flat) // 2] = np.nan
    corrupt = Volume.from_array(small_mask, spacing, origin, compress=True)
    data = bytearray(zlib.compress(small_mask.tobytes(), 1))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    data = bytes(data)
    corrupt = Volume(corrupt.spec, lambda size: (data[i : i + size] for i in range(0, len(data), size)))
    corrupt.spec.total_bytes = len(data)
    return {
        "small_image": Volume.from_array(small_image, spacing, origin),
        "small_mask": Volume.from_array(small_mask, spacing, origin, compress=True),
        "mri_image": Volume.from_array(mri, (0.8, 0.8, 3.0)),
        "mri_mask": Volume.from_array(lesion, (0.8, 0.8, 3.0), compress=True),
        "empty_mask": Volume.from_array(np.zeros_like(small_mask), spacing, origin, compress=True),
        "nan_image": Volume.from_array(nan_image, spacing, origin),
        "corrupt_mask": corrupt,
        "other_mask": Volume.from_array(small_mask[:-1], spacing, origin, compress=True),
        "garbage": Volume.from_bytes(b"this is not an image file " * 64),
    }


def make_study(kind, volumes, request_id):
    """A study of ``kind`` ("small", "mri" or one of :data:`BAD_KINDS`)."""
    image, mask, tasks = volumes["small_image"], volumes["small_mask"], ("ki67_high", "egfr_mutation")
    if kind == "mri":
        image, mask = volumes["mri_image"], volumes["mri_mask"]
    elif kind == "unknown_task":
        tasks = ("no_such_task",)
    elif kind == "absent_label":
        mask = volumes["empty_mask"]
    elif kind == "nan_voxels":
        image = volumes["nan_image"]
    elif kind == "corrupt_zlib":
        mask = volumes["corrupt_mask"]
    elif kind == "geometry_mismatch":
        mask = volumes["other_mask"]
    elif kind == "unreadable_file":
        image = volumes["garbage"]
    return Study(image, mask, request_id=request_id, tasks=tasks)


# --- the soak -----------------------------------------------------------------------------------------------


def run(
    duration=600.0,
    clients=6,
    interval=None,
    workers=2,
    queue_size=None,
    processes=1,
    deadline=60.0,
    bad_fraction=0.1,
    seed=0,
    log=print,
):
    """Run the soak; return ``(intervals, summary)``; ``summary["passed"]`` says whether every check held."""
    interval = interval or (60.0 if duration >= 300 else max(duration / 4, 5.0))
    # a client has at most 3 studies in flight (one stream): room for all, so no valid study is refused
    queue_size = 3 * clients if queue_size is None else queue_size
    volumes = _volumes()
    server = Server(workers, queue_size, processes)
    records, lock, stop = [], threading.Lock(), threading.Event()
    errors = []

    def client_loop(index):
        rng = np.random.default_rng(seed + index)
        count = 0
        try:
            with Client(server.target) as client:
                while not stop.is_set():
                    batch = 3 if rng.random() < 0.2 else 1  # some streams carry several studies
                    studies, kinds = [], {}
                    for _ in range(batch):
                        if rng.random() < bad_fraction:
                            kind = BAD_KINDS[int(rng.integers(len(BAD_KINDS)))]
                        else:
                            kind = "mri" if rng.random() < 0.25 else "small"
                        rid = f"soak-{index}-{count}"
                        count += 1
                        studies.append(make_study(kind, volumes, rid))
                        kinds[rid] = kind
                    started, finished = time.monotonic(), {}
                    try:
                        for event in client.analyze(studies, timeout=deadline):
                            outcome = event.WhichOneof("kind")
                            if outcome in ("completed", "error"):
                                code = "OK" if outcome == "completed" else event.error.code
                                finished[event.request_id] = (code, time.monotonic())
                    except ServiceError as exc:
                        for rid in kinds:
                            finished.setdefault(rid, (exc.code, time.monotonic()))
                    with lock:
                        for rid, (code, ended) in finished.items():
                            records.append((ended, kinds[rid], code, ended - started, batch))
        except Exception as exc:  # reported in the summary
            errors.append(repr(exc))

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    intervals = []
    try:
        window = 0
        while time.monotonic() - began < duration:
            window += 1
            end = began + min(window * interval, duration)
            stop.wait(max(end - time.monotonic(), 0))
            rss, fds, nthreads = server.resources()
            with lock:
                rows = [r for r in records if end - interval <= r[0] < end]
            valid = [r[3] for r in rows if r[1] in ("small", "mri") and r[2] == "OK"]
            q = np.percentile(valid, (50, 95, 99)) * 1e3 if valid else (float("nan"),) * 3
            # Tail latency per kind of study, one study per call: the pooled percentiles above mix a 30-ms
            # synthetic study with a 256 x 256 x 20 MRI (and studies queued behind others in one stream), so
            # their p99/p50 says how the mix is made, not how the service's latency spreads.
            by_kind = {}
            for kind in ("small", "mri"):
                alone = [r[3] for r in rows if r[1] == kind and r[2] == "OK" and r[4] == 1]
                by_kind[kind] = np.percentile(alone, (50, 99)) * 1e3 if alone else (float("nan"),) * 2
            row = {
                "t_s": round(end - began, 1),
                "rss_mb": round(rss, 1),
                "fds": fds,
                "threads": nthreads,
                "valid_per_s": round(len(valid) / interval, 2),
                "studies": len(rows),
                "p50_ms": round(float(q[0]), 1),
                "p95_ms": round(float(q[1]), 1),
                "p99_ms": round(float(q[2]), 1),
                **{
                    f"{kind}_{name}_ms": round(float(value), 1)
                    for kind, values in by_kind.items()
                    for name, value in zip(("p50", "p99"), values, strict=True)
                },
                "load": round(os.getloadavg()[0], 1),
            }
            intervals.append(row)
            log(json.dumps(row))
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
        try:
            server_counts = server.study_counts()
        finally:
            exit_code = server.close()
    client_counts = Counter(r[2] for r in records)
    valid_failed = [r for r in records if r[1] in ("small", "mri") and r[2] != "OK"]
    bad_wrong = [r for r in records if r[1] in BAD_KINDS and r[2] != "INVALID_ARGUMENT"]
    mismatched = {
        code: (client_counts.get(code, 0), server_counts.get(code, 0))
        for code in set(client_counts) | set(server_counts)
        if client_counts.get(code, 0) != server_counts.get(code, 0)
    }
    second = intervals[1] if len(intervals) > 1 else intervals[0]
    summary = {
        "duration_s": duration,
        "clients": clients,
        "workers": workers,
        "processes": processes,
        "studies": len(records),
        "valid_ok": client_counts.get("OK", 0),
        "client_counts": dict(client_counts),
        "server_counts": dict(server_counts),
        "valid_failed": len(valid_failed),
        "valid_failed_codes": dict(Counter(r[2] for r in valid_failed)),
        "bad_with_wrong_status": len(bad_wrong),
        "counts_mismatched": mismatched,
        "rss_second_interval_mb": second["rss_mb"],
        "rss_last_mb": intervals[-1]["rss_mb"],
        "rss_growth_pct": round(100 * (intervals[-1]["rss_mb"] / second["rss_mb"] - 1), 1),
        # the worst minute's p99 / p50 of each kind of study sent alone (target <= 2 below saturation)
        "p99_over_p50_max": {
            kind: max(
                (
                    round(row[f"{kind}_p99_ms"] / row[f"{kind}_p50_ms"], 2)
                    for row in intervals
                    if row[f"{kind}_p50_ms"] > 0
                ),
                default=None,
            )
            for kind in ("small", "mri")
        },
        "client_errors": errors,
        "server_exit_code": exit_code,
    }
    summary["passed"] = not (valid_failed or bad_wrong or mismatched or errors or exit_code)
    return intervals, summary


def main(argv=None):
    """Command line: ``python -m bench.soak [--duration S] [--clients N] ...``."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--interval", type=float, help="seconds per row (default 60; shorter for short runs)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue-size", type=int)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=60.0, help="per-call deadline (s)")
    parser.add_argument("--json", metavar="FILE", help="write the rows and the summary here")
    args = parser.parse_args(argv)
    intervals, summary = run(
        args.duration,
        args.clients,
        args.interval,
        args.workers,
        args.queue_size,
        args.processes,
        args.deadline,
    )
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"intervals": intervals, "summary": summary}, indent=1))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
