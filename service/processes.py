"""``spinerad serve --processes N``: N server processes on one port, one /metrics, SIGTERM drains them all.

One Python process serves at most about one core of Python work (the GIL: protobuf, asyncio, the
pipeline's NumPy glue), so a machine with more cores runs several. They share the gRPC port the standard
way, with ``SO_REUSEPORT`` (gRPC's ``grpc.so_reuseport`` option): the kernel spreads new connections over
the processes listening on it. This supervisor process:

- reserves the port (so ``--port 0`` gives all processes the same free port) and starts the N processes
  (spawned, not forked: the kernels' threading layers do not survive a fork), each with its share of the
  cores for its Numba threads and workers;
- serves one /metrics endpoint that sums theirs (prometheus_client's multiprocess mode, in a
  ``PROMETHEUS_MULTIPROC_DIR`` it empties at start);
- forwards SIGTERM/SIGINT to every process (each drains: health NOT_SERVING, accepted studies finish) and
  exits when all have, with the worst exit code; a process that dies is restarted.

Each process binds the port only once its models are loaded and its kernels warm, so every connection the
kernel hands out reaches a process that answers SERVING: the port gives one health answer.
"""

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from multiprocessing.connection import wait
from pathlib import Path

from .pool import default_workers

log = logging.getLogger("spinerad.service")

#: A process that dies this many times before its first SERVING stops the group (a broken install).
MAX_EARLY_DEATHS = 3


def default_processes():
    """One process per core this process may use."""
    return default_workers()


def share(processes, cores=None):
    """Cores (Numba threads and default workers) of each of ``processes`` processes."""
    cores = cores or default_workers()
    return max(1, cores // processes)


def reserve_port(host, port):
    """A socket bound with SO_REUSEPORT to ``host:port`` (not listening) and the port it got.

    Keeping it open for the group's lifetime holds the port (``--port 0`` picks one for all processes);
    a bound socket that does not listen receives no connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    return sock, sock.getsockname()[1]


def metrics_dir():
    """``$PROMETHEUS_MULTIPROC_DIR`` emptied (or a new temporary folder), set in the environment."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        if path.exists():
            for entry in path.iterdir():  # values of a previous run would be added to this one's
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        owned = False
    else:
        path = Path(tempfile.mkdtemp(prefix="spinerad-metrics-"))
        owned = True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, owned


def _die_with_parent():
    """Linux: get SIGTERM when the supervisor dies, so no orphan keeps the port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(args, index, port, ready):
    """One server process of the group (spawned)."""
    _die_with_parent()
    from .commands import serve_process

    args.port = port
    code = serve_process(args, index=index, reuse_port=True, on_serving=lambda: ready.send(os.getpid()))
    raise SystemExit(code)


def run_group(args, processes):
    """Run ``processes`` server processes until SIGTERM/SIGINT; return the exit code."""
    cores = default_workers()
    threads = share(processes, cores)
    args.workers = args.workers or threads
    os.environ["NUMBA_NUM_THREADS"] = str(threads)
    reserved, port = reserve_port(args.host, args.port)
    path, owned = metrics_dir()
    http = None
    if not args.no_metrics:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(path))
        http, _thread = start_http_server(args.metrics_port, addr=args.host, registry=registry)
    log.info(
        "listening on %s:%d with %d processes x %d workers (%d Numba threads each), metrics on port %s",
        args.host if ":" not in args.host else f"[{args.host}]",
        port,
        processes,
        args.workers,
        threads,
        http.server_port if http is not None else "(none)",
    )
    context = multiprocessing.get_context("spawn")
    stopping = {"now": False}

    def stop(signum, _frame):
        stopping["now"] = True
        for process in running.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    running, pipes, serving, deaths = {}, {}, set(), {}

    def start(index):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(args, index, port, sender), name=f"spinerad-{index}")
        process.start()
        sender.close()
        running[index], pipes[index] = process, receiver

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for index in range(processes):
            start(index)
        while running:
            sentinels = {p.sentinel: i for i, p in running.items()}
            readers = {pipes[i]: i for i in running if i not in serving}
            for ready in wait([*sentinels, *readers], timeout=1.0):
                if ready in readers:
                    index = readers[ready]
                    try:
                        ready.recv()
                    except EOFError:
                        continue
                    serving.add(index)
                    if len(serving) == processes:
                        log.info("SERVING: all %d processes", processes)
                    continue
                index = sentinels[ready]
                process = running.pop(index)
                process.join()
                pipes.pop(index).close()
                _mark_dead(process.pid)
                if stopping["now"]:
                    code = max(code, process.exitcode or 0)
                    continue
                early = index not in serving
                serving.discard(index)
                deaths[index] = deaths.get(index, 0) + early
                if deaths[index] >= MAX_EARLY_DEATHS or process.exitcode == 1:
                    log.error("server process %d exited with %s; stopping the group", index, process.exitcode)
                    code = 1
                    stop(None, None)
                    continue
                log.warning("server process %d exited with %s; restarting it", index, process.exitcode)
                start(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reserved.close()
        if http is not None:
            http.shutdown()
            http.server_close()
        if owned:
            shutil.rmtree(path, ignore_errors=True)
    log.info("stopped (%d processes)", processes)
    return code


def _mark_dead(pid):
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
    except (ImportError, OSError):
        pass
