"""The Dask side of a cohort run: the client (local cluster or a scheduler), its preflight, the case tasks.

One task per distinct case: it computes the case's key and, unless the key is among the finished parts
(listed when the run starts and broadcast to the workers), runs :func:`~spinerad.cohort_parts.extract_case`.
This (client) process writes each finished case's part as it arrives.
"""

import logging
import os
from contextlib import contextmanager

from . import __version__
from .cohort_parts import case_key, error_line, extract_case, read_part, write_part
from .cohort_progress import SilentProgress
from .errors import DeviceUnavailable, InvalidInput, SpineradError

#: How often Dask runs a case again after its worker process died (on top of the scheduler's own
#: ``distributed.scheduler.allowed-failures`` rescheduling).
RETRIES = 2
#: How long to try to reach a ``--scheduler`` before giving up.
CONNECT_TIMEOUT = "20s"


class SchedulerUnavailable(DeviceUnavailable):
    """The Dask scheduler cannot be reached, or it has no usable workers (CLI exit code 3)."""


def _case_task(
    image,
    mask,
    label,
    label_channel,
    params,
    key_label,
    key_channel,
    settings_hash,
    finished,
    case_function,
    roi_choice=None,
):
    """Hash one case and, unless its key is in ``finished``, extract it (the Dask task of a case).

    Returns ``{"key": key, "finished": True}`` or the record of ``case_function`` (:func:`extract_case`)
    with its ``key``. Never raises for a bad case; a file that cannot be hashed gives an error record with
    ``key`` None (never cached).
    """
    try:
        key = case_key(image, mask, key_label, key_channel, settings_hash, roi_choice=roi_choice)
    except SpineradError as exc:
        return {"status": "error", "error": str(exc), "key": None}
    except Exception as exc:  # noqa: BLE001 - recorded as the case's error, the cohort goes on
        return {"status": "error", "error": error_line(exc), "key": None}
    if key in finished:
        return {"key": key, "finished": True}
    return {**case_function(image, mask, label, label_channel, params, **(roi_choice or {})), "key": key}


def worker_info():
    """Report a worker's spinerad version and Numba threading (the preflight check runs it on each)."""
    import numba

    from . import kernels  # noqa: F401 - importing the kernels selects the threading layer

    return {
        "spinerad": __version__,
        "threading_layer": numba.config.THREADING_LAYER,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
    }


def machine_cores():
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def _quiet_distributed():
    """Silence the in-process scheduler's and client's log lines while we own the cluster."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def dask_client(scheduler=None, n_workers=None):
    """Yield a ``distributed.Client`` of ``scheduler``, or of a new ``LocalCluster`` sized to the machine.

    The local cluster has ``n_workers`` (default: one per core) single-threaded worker processes; the
    Numba kernels inside each share the cores (``NUMBA_NUM_THREADS = cores // n_workers``), so workers and
    kernel threads do not oversubscribe the machine.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if n_workers is not None:
            raise InvalidInput(f"--workers sizes a local cluster; the scheduler at {scheduler} has its own")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            message = f"cannot reach the Dask scheduler at {scheduler}: {error_line(exc)}"
            raise SchedulerUnavailable(message) from None
        with client:
            yield client
        return
    cores = machine_cores()
    n_workers = n_workers or cores
    numba_threads = max(1, cores // n_workers)
    with (
        _quiet_distributed(),
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard; the scheduler's small HTTP server on any free port, not on a possibly taken 8787
            scheduler_kwargs={"dashboard_address": ":0"},
            env={"NUMBA_NUM_THREADS": str(numba_threads)},
            # Case failures are rows of the table; distributed's own log lines (a worker's heartbeat failing
            # while the cluster closes, with a traceback) would only clutter the one-line CLI output.
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def preflight(client, wait_s=60):
    """Refuse a cluster whose workers cannot run this spinerad version (one clear error, not N error rows)."""
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=wait_s)
        infos = client.run(worker_info)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnavailable(f"the Dask cluster has no usable workers: {error_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. spinerad not importable on the workers
        raise SchedulerUnavailable(f"the Dask workers cannot run spinerad: {error_line(exc)}") from None
    versions = sorted({info["spinerad"] for info in infos.values()})
    if versions != [__version__]:
        raise SchedulerUnavailable(
            f"the Dask workers run spinerad {', '.join(versions)}; this client runs {__version__}"
        )
    return infos


def run_cases(client, cases, params, parts, progress=None, case_function=None):
    """Compute every case on ``client``, writing parts; return ``(records by case index, computed, skipped)``.

    One task per distinct (image, mask, label, label channel): it hashes the inputs and, unless the key is
    among the finished parts listed when the run started, extracts. ``case_function`` replaces
    :func:`extract_case` (same signature; tests inject failing ones).
    """
    from distributed import as_completed

    case_function = case_function or extract_case
    progress = progress or SilentProgress()
    settings_hash = params.settings_hash()
    records = {}
    skipped = 0

    def finish(indices, record, from_part=False):
        nonlocal skipped
        for index in indices:
            records[index] = record
            skipped += from_part
            progress.update(record["status"], skipped=from_part)

    groups = {}
    for index, case in enumerate(cases):
        if case.problem:
            finish([index], {"status": "error", "error": case.problem})
            continue
        group = (case.image, case.mask, case.label, case.label_channel, case.segment, case.roi)
        groups.setdefault(group, []).append(index)

    # The workers learn which keys are finished from one broadcast set, so one task per case both hashes
    # and (if needed) extracts: a key task followed by an extraction task cost a scheduling round trip more.
    # (scatter takes a list of data; a bare set would be scattered item by item)
    finished, nothing = client.scatter(
        [frozenset(p.stem for p in parts.glob("*.json")), frozenset()], broadcast=True, hash=False
    )
    # Results travel with the completion events, in batches: one round trip per batch, not per future.
    pending = as_completed(with_results=True, raise_errors=False)
    role = {}

    def submit(group, indices, known):
        image, mask, label, channel, segment, roi = group
        choice = {k: v for k, v in (("segment", segment), ("roi", roi)) if v is not None}
        key_label = label if label is not None else params.settings.label
        key_channel = channel if channel is not None else params.settings.label_channel
        future = client.submit(
            _case_task,
            image,
            mask,
            label,
            channel,
            params,
            key_label,
            key_channel,
            settings_hash,
            known,
            case_function,
            choice or None,
            pure=False,
            retries=RETRIES,
        )
        role[future] = (group, indices)
        pending.add(future)

    for group, indices in groups.items():
        submit(group, indices, finished)
    for future, result in _finished(pending):
        group, indices = role.pop(future)
        key = result.get("key")
        if result.get("finished"):
            record = read_part(parts, key)
            if record is None:  # listed but unreadable (torn, edited): compute it after all
                submit(group, indices, nothing)
            else:
                finish(indices, record, from_part=True)
            continue
        record = {k: v for k, v in result.items() if k in ("status", "error", "features")}
        if key is not None and (result["status"] == "ok" or result.get("cacheable")):
            write_part(parts, key, result)
        finish(indices, record)
    return records, len(cases) - skipped, skipped


def _finished(pending):
    """Yield ``(future, result)``; a failed future (KilledWorker, a raising case function) as an error."""
    for batch in pending.batches():
        for future, result in batch:
            if future.status != "finished":
                exc = result[1] if isinstance(result, tuple) else result
                result = {"status": "error", "error": error_line(exc), "cacheable": False}
            future.release()
            yield future, result
