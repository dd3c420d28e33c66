"""The DICOM node (``spinerad dicom-node``): a Storage SCP that analyses the studies PACS routes to it.

Flow of a study:

1. PACS opens an association (calling AE checked against ``--allow-ae``) and C-STOREs the instances; each is
   written to the spool (:mod:`spinerad.pacs.spool`) *before* the C-STORE is acknowledged, so an instance
   PACS saw acknowledged is on disk.
2. The study is complete when no association that delivered to it is open any more (released or aborted)
   and no instance arrived for ``--quiet-seconds``.
3. A pool of ``--workers`` threads (one study per worker at a time) analyses it
   (:mod:`spinerad.pacs.analysis`) once its associations are closed and nothing arrived for
   :data:`EARLY_ANALYSIS_S`, *during* the quiet period, and keeps the result objects in memory; when the
   quiet period has passed and the study's instances are still the ones analysed, the results are published
   into the spool (else they are dropped and the study is analysed again, this time after the whole quiet
   period: at most one early analysis per study is wasted), C-STOREd to ``--store-to``
   (:mod:`spinerad.pacs.store`; on failure again after a
   growing backoff, the results staying in the spool) and only then is the study removed from the spool.
   Nothing is reported for an incomplete study: only published results are stored, and a failure of the
   analysis is logged and counted when it is published, not when a speculative analysis of a study still
   arriving failed.

A restart (after SIGKILL, a power cut, ...) finds the spooled studies and resumes them: a study with
published results is only stored; one without is analysed again and gets the same result UIDs (derived from
its inputs), so PACS receives nothing twice. A study that cannot be analysed gives one log line, a metric
and, unless ``--failure-sr off``, an SR saying that it failed and why.

Logs and metrics never carry a patient or study identifier: studies are named by their spool key (a hash).
"""

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field

from ..errors import SpineradError
from .analysis import MANUFACTURER, SEG_SOP_CLASSES, SR_SOP_CLASSES, analyse_study, failure_report
from .metrics import NodeMetrics
from .spool import Spool, study_key
from .store import StoreFailed, backoff_seconds, store_files

log = logging.getLogger("spinerad.pacs")

#: C-STORE statuses (PS3.4 Annex B).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

MiB = 1 << 20
#: A study's early analysis starts this long after its last instance (or after the quiet period if shorter):
#: a sender opening one association per instance or per series leaves gaps of milliseconds between them.
EARLY_ANALYSIS_S = 0.25
RESULT_SOP_CLASSES = SEG_SOP_CLASSES | SR_SOP_CLASSES


@dataclass(frozen=True)
class NodeConfig:
    """Everything ``spinerad dicom-node`` can set."""

    store_to: object  # store.StoreTarget
    spool: str
    ae_title: str = "SPINERAD"
    host: str = "127.0.0.1"
    port: int = 11112
    #: Calling AE titles accepted; empty: every AE.
    allow_ae: tuple = ()
    quiet_seconds: float = 10.0
    max_instances: int = 5000
    max_study_bytes: int = 4096 * MiB
    failure_sr: bool = True
    metrics_port: int = None
    metrics_host: str = "127.0.0.1"
    #: First store retry after this many seconds, doubling up to ``store_backoff_max_s``.
    store_backoff_s: float = 1.0
    store_backoff_max_s: float = 300.0
    tasks: tuple = ()
    #: Studies analysed/stored at the same time (a bounded pool of threads).
    workers: int = 2
    #: Port of the gRPC health service served beside the node (:mod:`spinerad.pacs.health`); None: none.
    grpc_port: int = None


@dataclass
class _StudyState:
    associations: set = field(default_factory=set)
    last_received: float = field(default_factory=time.monotonic)
    last_wall: float = field(default_factory=time.time)
    attempts: int = 0
    next_attempt: float = 0.0
    instances: int = 0
    bytes: int = 0
    refused: bool = False
    #: A worker holds the study (analysing, publishing or storing it).
    busy: bool = False
    #: ``(instance paths, result datasets, failure)`` of an analysis not published yet; failure is
    #: ``(reason, kind)`` or None.
    analysed: tuple = None
    #: The one early analysis (during the quiet period) was started.
    speculated: bool = False


class DicomNode:
    """One Storage SCP with its spool and processor thread: :meth:`start`, then :meth:`stop`."""

    def __init__(self, config, registry, metrics=None):
        self.config = config
        self.registry = registry
        self.metrics = metrics or NodeMetrics()
        self.spool = Spool(config.spool)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._states = {}
        self._server = None
        self._thread = None
        self._pool = None
        self.health = None
        self._metrics_http = None
        self.port = None
        self.metrics_port = None
        self.resumed = 0

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self):
        """Bind the SCP, resume spooled studies and start the processor thread."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        config = self.config
        for key in self.spool.keys():
            count, size = self.spool.size(key)
            self._states[key] = _StudyState(instances=count, bytes=size)
        self.resumed = len(self._states)
        self.metrics.spool_depth.set(self.resumed)
        ae = AE(ae_title=config.ae_title)
        ae.maximum_associations = 16
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 60
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        if config.allow_ae:
            ae.require_calling_aet = list(config.allow_ae)
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
            (evt.EVT_CONN_CLOSE, self._on_end),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        self._server = ae.start_server((config.host, config.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        if config.metrics_port is not None:
            from prometheus_client import start_http_server

            self._metrics_http, _thread = start_http_server(
                config.metrics_port, addr=config.metrics_host, registry=self.metrics.registry
            )
            self.metrics_port = self._metrics_http.server_port
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max(1, self.config.workers), thread_name_prefix="spinerad-study")
        self._thread = threading.Thread(target=self._process_loop, name="spinerad-node", daemon=True)
        self._thread.start()
        if config.grpc_port is not None:
            from .health import NodeHealth

            self.health = NodeHealth(self, config.host, config.grpc_port).start()
        return self

    def problems(self):
        """What keeps the node from working (empty when it is healthy): what gRPC health reports."""
        found = []
        if self._stopping.is_set():
            found.append("stopping")
        if self._server is None or self._server.socket.fileno() < 0:
            found.append("the DICOM port is closed")
        if self._thread is None or not self._thread.is_alive():
            found.append("the study processor is not running")
        if not os.access(self.spool.studies_dir, os.W_OK | os.X_OK):
            found.append("the spool folder is not writable")
        return found

    def startup_line(self):
        """The one line the node logs when it is up (what it accepts, where results go)."""
        config = self.config
        who = (
            "calling AE titles " + ", ".join(config.allow_ae) + " (others rejected)"
            if config.allow_ae
            else "EVERY calling AE title (no --allow-ae given)"
        )
        metrics = f", metrics on port {self.metrics_port}" if self.metrics_port is not None else ""
        if self.health is not None:
            metrics += f", gRPC health on port {self.health.port}"
        return (
            f"dicom-node {config.ae_title} listening on {config.host}:{self.port}, accepting {who}; "
            "results to "
            f"{config.store_to}; quiet period {config.quiet_seconds:g} s; spool {config.spool} "
            f"({self.resumed} studies resumed){metrics}"
        )

    def stop(self, timeout=30.0):
        """Stop taking associations, let the processor finish its current step, stop."""
        self._stopping.set()
        if self.health is not None:
            self.health.stop()
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()

    # --- SCP handlers (one thread per association) ---------------------------------------------------------

    def _on_store(self, event):
        try:
            data = event.encoded_dataset(include_meta=True)
            ds = event.dataset
            study_uid, sop_uid = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
            own = ds.get("Manufacturer") == MANUFACTURER and ds.SOPClassUID in RESULT_SOP_CLASSES
        except Exception:  # noqa: BLE001 - a dataset we cannot parse is refused, never crashes the SCP
            self.metrics.refused.labels("unreadable").inc()
            log.warning("refused an instance that could not be decoded")
            return CANNOT_UNDERSTAND
        if own:
            # Our own result, routed back by PACS: acknowledged and dropped, so results never loop.
            self.metrics.refused.labels("own_result").inc()
            return SUCCESS
        association = id(event.assoc)
        with self._lock:
            key = study_key(study_uid)
            state = self._states.get(key) or _StudyState()
            if (
                state.instances + 1 > self.config.max_instances
                or state.bytes + len(data) > self.config.max_study_bytes
            ):
                self.metrics.refused.labels("study_limit").inc()
                if not state.refused:  # one line per study, not one per refused instance
                    state.refused = True
                    log.warning(
                        "study %s: instance refused: the study reached the limit of %d instances / %d MiB",
                        key,
                        self.config.max_instances,
                        self.config.max_study_bytes // MiB,
                    )
                return OUT_OF_RESOURCES
            try:
                key, new = self.spool.add_instance(study_uid, sop_uid, data)
            except OSError as exc:
                self.metrics.refused.labels("spool_write").inc()
                log.error("study %s: cannot write to the spool (%s); instance refused", key, exc.strerror)
                return OUT_OF_RESOURCES
            self._states[key] = state
            if new:
                state.instances += 1
                state.bytes += len(data)
            state.associations.add(association)
            state.last_received = time.monotonic()
            state.last_wall = time.time()
            state.attempts, state.next_attempt = 0, 0.0
            if new:
                state.analysed = None  # analysed without this instance
            self.metrics.spool_depth.set(len(self._states))
        self.metrics.received.inc()
        self.metrics.received_bytes.inc(len(data))
        return SUCCESS

    def _on_end(self, event):
        association = id(event.assoc)
        with self._lock:
            for state in self._states.values():
                if association in state.associations:
                    state.associations.discard(association)
                    state.last_received = time.monotonic()
        self._wake.set()

    def _on_rejected(self, event):
        self.metrics.rejected_associations.inc()
        log.warning("association rejected: calling AE title not allowed")

    # --- processor: a dispatcher thread hands due studies to the worker pool ------------------------------

    def _due(self):
        """``([(key, step)], seconds until the next study may become due)``; marks the studies busy."""
        now = time.monotonic()
        quiet = self.config.quiet_seconds
        due, wait = [], 0.2
        with self._lock:
            for key, state in self._states.items():
                if state.busy or state.associations:
                    continue
                if now < state.next_attempt:
                    wait = min(wait, state.next_attempt - now)
                    continue
                since = now - state.last_received
                if state.analysed is None and not self.spool.has_results(key):
                    # once per study early, during the quiet period; after that only once it has passed
                    start = quiet if state.speculated else min(quiet, EARLY_ANALYSIS_S)
                    if since < start:
                        wait = min(wait, start - since)
                        continue
                    state.speculated = True
                    step = self._analyse
                elif since >= quiet:
                    step = self._process
                else:
                    wait = min(wait, quiet - since)
                    continue
                state.busy = True
                due.append((key, step))
        return due, max(wait, 0.005)

    def _process_loop(self):
        while not self._stopping.is_set():
            due, wait = self._due()
            for key, step in due:
                self._pool.submit(self._run, key, step)
            self._wake.wait(wait)
            self._wake.clear()

    def _run(self, key, step):
        try:
            if not self._stopping.is_set():
                step(key)
        except Exception:  # noqa: BLE001 - a bug must not stop the node; the study is retried later
            log.exception("study %s: unexpected error; it stays in the spool", key)
            with self._lock:
                state = self._states.get(key)
                if state is not None:
                    state.analysed = None
                    state.next_attempt = time.monotonic() + self.config.store_backoff_max_s
        finally:
            with self._lock:
                state = self._states.get(key)
                if state is not None:
                    state.busy = False
            self._wake.set()

    def _process(self, key):
        """The quiet period has passed: publish the analysis (if still current), then store."""
        if not self.spool.has_results(key) and not self._publish(key):
            return
        self._store(key)

    def _analyse(self, key):
        """Analyse study ``key`` and keep its results in memory (published later by :meth:`_publish`)."""
        paths = self.spool.instances(key)
        started = time.perf_counter()
        failure = None
        try:
            result = analyse_study(paths, self.registry, tasks=self.config.tasks or None)
            datasets = result.datasets
            self.metrics.service.observe_stages(result.stage_ms)
            log.info(
                "study %s: %d instances, %d ROI(s) analysed in %.0f ms",
                key,
                len(paths),
                len(result.rois),
                (time.perf_counter() - started) * 1e3,
            )
        except SpineradError as exc:
            datasets, failure = None, (str(exc), "invalid_study")
        except Exception as exc:  # noqa: BLE001 - the study fails, the node goes on
            log.debug("study %s: internal error", key, exc_info=True)
            datasets, failure = None, (f"internal error ({type(exc).__name__})", "internal")
        self.metrics.analysis_seconds.observe(time.perf_counter() - started)
        with self._lock:
            state = self._states.get(key)
            if state is not None and self.spool.instances(key) == paths:
                state.analysed = (paths, datasets, failure)

    def _publish(self, key):
        """Write the in-memory results into the spool if the study did not change; False otherwise."""
        with self._lock:
            state = self._states.get(key)
            analysed = state.analysed if state is not None else None
            if analysed is None:
                return False
            paths, datasets, failure = analysed
            if self.spool.instances(key) != paths:
                log.info("study %s: new instances arrived after the analysis; analysing it again", key)
                state.analysed = None
                return False
        if failure is not None:
            if failure[1] == "internal":
                log.error("study %s: analysis failed with an internal error", key)
            datasets = self._failed(key, paths, *failure)
        with self._lock:
            if self.spool.instances(key) != paths:
                state.analysed = None
                return False
            self.spool.publish_results(key, datasets)
            state.analysed = None
        return True

    def _failed(self, key, paths, reason, kind):
        self.metrics.study_failures.labels(kind).inc()
        log.warning("study %s: analysis failed: %s", key, reason)
        if not self.config.failure_sr:
            return []
        try:
            return [failure_report(paths, reason)]
        except Exception:  # noqa: BLE001
            log.exception("study %s: could not build the failure SR", key)
            return []

    def _store(self, key):
        pending = self.spool.unstored(key)
        with self._lock:
            state = self._states.get(key) or _StudyState()
        try:
            store_files(self.config.store_to, pending, self.config.ae_title)
        except StoreFailed as exc:
            self.metrics.store_failures.inc()
            delay = backoff_seconds(
                state.attempts, self.config.store_backoff_s, self.config.store_backoff_max_s
            )
            with self._lock:
                state.attempts += 1
                state.next_attempt = time.monotonic() + delay
            log.warning(
                "study %s: storing %d result object(s) failed (attempt %d): %s; kept in the spool, "
                "next try in "
                "%.0f s",
                key,
                len(pending),
                state.attempts,
                exc,
                delay,
            )
            return
        for path in pending:
            self.spool.mark_stored(key, path)
        self.metrics.stored.inc(len(pending))
        with self._lock:
            if self.spool.unstored(key) or not self.spool.has_results(
                key
            ):  # new instances dropped the results
                return
            self.spool.remove(key)
            self._states.pop(key, None)
            self.metrics.spool_depth.set(len(self._states))
        self.metrics.studies_done.inc()
        turnaround = time.time() - state.last_wall
        self.metrics.turnaround.observe(turnaround)
        log.info(
            "study %s: %d result object(s) stored to %s; removed from the spool",
            key,
            len(pending),
            self.config.store_to,
        )


def _all_transfer_syntaxes():
    from pynetdicom import ALL_TRANSFER_SYNTAXES as syntaxes

    return list(syntaxes)


ALL_TRANSFER_SYNTAXES = _all_transfer_syntaxes()


def run(config, registry):
    """Run a node until SIGTERM/SIGINT; returns the exit code."""
    node = DicomNode(config, registry).start()
    log.info("%s", node.startup_line())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    log.info("stopping: no new associations; spooled studies stay for the next start")
    node.stop()
    return 0
