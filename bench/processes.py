"""Throughput of ``spinerad serve --processes N`` on N pinned cores, with the client's CPU measured.

Usage (the ratio the service issue asks for: >= 1.8x from one core to two, per-core throughput flat)::

    python -m bench.processes                      # 1 and 2 processes, 20-s windows, 2 rounds interleaved
    python -m bench.processes --processes 1 2 4 --seconds 30 --rounds 3 --json processes.json

Each configuration runs ``spinerad serve --processes N`` under ``taskset`` on cores 0..N-1 (so N
processes have N cores, each process one Numba thread and one worker: the supervisor's share). The load
generator is this process: ``--clients-per-process`` closed-loop client threads, each on its own
connection (the kernel spreads connections over the processes, ``SO_REUSEPORT``), sending a 512 x 512 x 20
int16 MRI study whose upload messages are serialised once, before timing (only the header's request id
changes per study): the client does little more than write bytes to a socket. It runs on the cores the
server does not use if there are any, else beside the server; its CPU time is measured and reported
either way.

Reported per configuration (median over rounds): studies/s, the ratio to 1 process, studies/s per
process (flat = linear scaling), server CPU-seconds per study (supervisor + processes, from /proc), how
the server CPU split over the processes (the connection spread), client CPU-seconds per study and the
share of a core the client used, and the load average. "Adjusted" adds back the CPU the client took
from the server's cores when they are shared: studies/s x N / (N - client cores), what the server would
do with its N cores to itself.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import grpc
import psutil

from spinerad.service.client import Study, Volume
from spinerad.v1 import events_pb2, study_pb2
from tests.service.harness import ServerProcess

from .test_bench_service import SPACING, mri_study

ANALYZE = "/spinerad.v1.InferenceService/Analyze"
WAIT = 180


class Group(ServerProcess):
    """``spinerad serve --processes N`` pinned to ``cpus``; free ports; stopped with SIGTERM."""

    def __init__(self, processes, cpus, queue_size):
        super().__init__(
            "--no-metrics", "--processes", str(processes), "--queue-size", str(queue_size),
            module="spinerad", cpus=cpus, wait=WAIT,
        )  # fmt: skip
        self.wait_serving(processes)

    def cpu(self):
        """CPU seconds (user + system) of the supervisor and of each of its server processes."""
        root = psutil.Process(self.process.pid)
        times = {"supervisor": sum(root.cpu_times()[:2])}
        for child in root.children(recursive=True):
            try:
                if "resource_tracker" not in " ".join(child.cmdline()):
                    times[child.pid] = sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return times

    def run_delay(self):
        """Seconds the server's threads have waited for a CPU while runnable (``/proc/*/task/*/schedstat``).

        Waiting here means the cores were busy with something else (other jobs on a shared machine,
        the client, the other processes): time the server wanted a core and did not get one.
        """
        root = psutil.Process(self.process.pid)
        total = 0
        for process in [root, *root.children(recursive=True)]:
            for task in Path(f"/proc/{process.pid}/task").glob("*/schedstat"):
                try:
                    total += int(task.read_text().split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        return total / 1e9

    def close(self):
        """SIGTERM (drain); the exit code."""
        try:
            return self.terminate()
        finally:
            super().close()


def encoded_study():
    """(header template, serialised chunk messages) of the benchmark study, encoded once."""
    image, mask = mri_study()
    study = Study(Volume.from_array(image, SPACING), Volume.from_array(mask, SPACING), request_id="template")
    chunks = []
    for part, volume in ((study_pb2.PART_IMAGE, study.image), (study_pb2.PART_MASK, study.mask)):
        offset = 0
        for data in volume.chunks():
            message = study_pb2.StudyUpload(chunk=study_pb2.Chunk(part=part, offset=offset, data=data))
            chunks.append(message.SerializeToString())
            offset += len(data)
    return study.header(), chunks


def client_loop(target, header, chunks, name, stop, counts, errors):
    """Studies back to back on one connection until ``stop``; counts the completed ones."""
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(target, options=options) as channel:
        analyze = channel.stream_stream(
            ANALYZE, request_serializer=None, response_deserializer=events_pb2.AnalyzeEvent.FromString
        )
        number = 0
        while not stop.is_set():
            header.request_id = f"{name}-{number}"  # unique: a repeated id is answered from the replay cache
            first = study_pb2.StudyUpload(header=header).SerializeToString()
            try:
                events = list(analyze(iter([first, *chunks]), timeout=WAIT))
            except grpc.RpcError as error:
                errors.append(f"{error.code().name}: {error.details()}")
                return
            last = events[-1].WhichOneof("kind")
            if last != "completed":
                errors.append(f"{last}: {events[-1]}")
                return
            counts[name] = counts.get(name, 0) + 1
            number += 1


def measure(processes, cores, clients_per_process, seconds, header, chunks, server_cpus=None):
    """One configuration: throughput and CPU of both sides over a ``seconds`` window.

    The server runs on ``server_cpus`` (default: the first ``processes`` cores), the client on the other
    cores if there are any.
    """
    server_cpus = server_cpus or cores[:processes]
    client_cpus = [c for c in cores if c not in server_cpus] or cores
    clients = clients_per_process * processes
    group = Group(processes, server_cpus, queue_size=2 * clients)
    me = psutil.Process()
    previous_affinity = me.cpu_affinity()
    me.cpu_affinity(client_cpus)
    try:
        stop, counts, errors = threading.Event(), {}, []
        threads = []
        for index in range(clients):
            h = study_pb2.StudyHeader()
            h.CopyFrom(header)
            args = (group.target, h, chunks, f"p{processes}c{index}", stop, counts, errors)
            threads.append(threading.Thread(target=client_loop, args=args))
        for thread in threads:
            thread.start()
        while len(counts) < clients and not errors:  # every connection made and one study done: warm
            time.sleep(0.05)
        done0, server0, client0, wall0 = (
            sum(counts.values()),
            group.cpu(),
            me.cpu_times(),
            time.perf_counter(),
        )
        delay0 = group.run_delay()
        time.sleep(seconds)
        done1, server1, client1, wall1 = (
            sum(counts.values()),
            group.cpu(),
            me.cpu_times(),
            time.perf_counter(),
        )
        delay1 = group.run_delay()
        stop.set()
        for thread in threads:
            thread.join(WAIT)
        if errors:
            raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    finally:
        me.cpu_affinity(previous_affinity)
        code = group.close()
    studies, wall = done1 - done0, wall1 - wall0
    per_process = {k: server1[k] - server0.get(k, 0.0) for k in server1 if k != "supervisor"}
    server_cpu = sum(server1.values()) - sum(server0.values())
    client_cpu = (client1.user + client1.system) - (client0.user + client0.system)
    client_cores = client_cpu / wall
    shared = client_cpus == cores
    throughput = studies / wall
    return {
        "processes": processes,
        "server_cores": server_cpus,
        "client_cores_pinned": client_cpus,
        "clients": clients,
        "studies": studies,
        "seconds": wall,
        "throughput": throughput,
        "server_cpu_per_study_s": server_cpu / studies,
        "process_cpu_share": sorted(
            (v / max(sum(per_process.values()), 1e-9) for v in per_process.values()), reverse=True
        ),
        "server_cpu_cores": server_cpu / wall,
        "server_waited_for_cpu_per_study_s": (delay1 - delay0) / studies,
        "client_cpu_per_study_s": client_cpu / studies,
        "client_cores": client_cores,
        "adjusted_throughput": throughput * processes / (processes - client_cores) if shared else throughput,
        "load_average": os.getloadavg()[0],
        "exit_code": code,
    }


def main(argv=None):
    """Measure every configuration ``--rounds`` times, interleaved; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=20.0, help="timed window per configuration")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    parser.add_argument("--clients-per-process", type=int, default=3)
    parser.add_argument("--json", help="write every measurement here")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    if max(args.processes) > len(cores):
        parser.error(f"{max(args.processes)} processes need as many cores; this process may use {len(cores)}")
    header, chunks = encoded_study()
    rows = []
    for round_ in range(args.rounds):
        for processes in args.processes:
            row = measure(processes, cores, args.clients_per_process, args.seconds, header, chunks)
            row["round"] = round_
            rows.append(row)
            print(
                f"round {round_}: {processes} process(es): {row['throughput']:.2f} studies/s, server "
                f"{row['server_cpu_per_study_s'] * 1e3:.0f} ms CPU/study "
                f"({row['server_cpu_cores']:.2f} cores; "
                f"waited {row['server_waited_for_cpu_per_study_s'] * 1e3:.0f} ms/study for a CPU), client "
                f"{row['client_cores']:.2f} "
                f"cores, load {row['load_average']:.1f}",
                file=sys.stderr,
                flush=True,
            )
    base = statistics.median(r["throughput"] for r in rows if r["processes"] == args.processes[0])
    base_adjusted = statistics.median(
        r["adjusted_throughput"] for r in rows if r["processes"] == args.processes[0]
    )
    print(f"cores {cores}, {args.rounds} rounds of {args.seconds:.0f} s, medians:")
    for processes in args.processes:
        mine = [r for r in rows if r["processes"] == processes]

        def med(key, mine=mine):
            return statistics.median(r[key] for r in mine)

        shares = "/".join(f"{s:.0%}" for s in mine[0]["process_cpu_share"])
        print(
            f"  {processes} process(es) on {processes} core(s): {med('throughput'):.2f} studies/s = "
            f"{med('throughput') / base:.2f}x ({med('throughput') / processes:.2f} per process; adjusted for "
            f"the client {med('adjusted_throughput') / base_adjusted:.2f}x); server CPU "
            f"{med('server_cpu_per_study_s') * 1e3:.0f} ms/study split {shares}, "
            f"{med('server_cpu_cores'):.2f} cores busy, waited "
            f"{med('server_waited_for_cpu_per_study_s') * 1e3:.0f} "
            "ms/study for a CPU; client CPU "
            f"{med('client_cpu_per_study_s') * 1e3:.0f} ms/study = {med('client_cores'):.2f} cores "
            f"({'beside the server' if not cores[processes:] else 'on its own cores'}); load average "
            f"{med('load_average'):.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
