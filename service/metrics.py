"""Prometheus metrics of the service, in a registry of their own, served on a separate HTTP port.

Under ``spinerad serve --processes N`` every process writes its values to ``PROMETHEUS_MULTIPROC_DIR``
and the supervisor serves their sum (gauges: the sum over live processes); the models Info is then
absent (prometheus_client's multiprocess mode has no Info): ``ListModels`` answers it.

Labels are bounded and carry no patient data: RPC method names, status code names, pipeline stage names,
task ids, upload part ("image"/"mask") and rejection reasons. Request ids never become labels.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

#: Resolve a millisecond to tens of seconds.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    60.0,
)


class ServiceMetrics:
    """The service's metric families; one instance per server, each with its own registry."""

    def __init__(self, registry=None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rpc_seconds = Histogram(
            "spinerad_rpc_duration_seconds",
            "Server-side latency of an RPC, by method and final status code.",
            ["rpc", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.study_seconds = Histogram(
            "spinerad_study_duration_seconds",
            "Latency of one study, header to last event, by RPC and outcome.",
            ["rpc", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "spinerad_stage_duration_seconds",
            "Time of one pipeline stage of a study (decode, validate, preprocess, discretise, each feature "
            "class).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_seconds = Histogram(
            "spinerad_model_inference_duration_seconds",
            "Time of one marker model's prediction, by task.",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rpcs_in_flight = Gauge(
            "spinerad_rpcs_in_flight",
            "RPCs being served now, by method.",
            ["rpc"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.studies_held = Gauge(
            "spinerad_studies_admitted",
            "Studies holding an admission place (uploading, queued or computing).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue_depth = Gauge(
            "spinerad_queue_depth",
            "Studies fully uploaded and waiting for a worker.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.workers_busy = Gauge(
            "spinerad_workers_busy",
            "Worker threads computing a study.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rejected = Counter(
            "spinerad_rejected_requests",
            "Requests or studies refused before any work, by reason.",
            ["reason"],
            registry=r,
        )
        self.upload_timeouts = Counter(
            "spinerad_upload_timeouts",
            "Calls cut because an admitted study's upload stalled (idle) or took too long (total).",
            ["kind"],
            registry=r,
        )
        self.received_bytes = Counter(
            "spinerad_received_bytes",
            'Payload bytes received in upload chunks, by part ("refused": chunks of a refused study, '
            "read and dropped).",
            ["part"],
            registry=r,
        )
        self.replayed = Counter(
            "spinerad_replayed_studies",
            "Studies sent again with the request id and header of a recently completed one: answered with "
            "the stored events, not computed again.",
            registry=r,
        )
        self.trim_seconds = Histogram(
            "spinerad_memory_trim_duration_seconds",
            "Time of giving freed memory back to the kernel (malloc_trim) when the server goes idle.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.models = Info(
            "spinerad_models", "The loaded marker models: task -> model id and version.", registry=r
        )

    def observe_stages(self, stage_ms):
        """Record a study's per-stage times (ms; ``inference:<task>`` entries go to the model histogram)."""
        for stage, ms in stage_ms.items():
            if stage == "total":
                continue
            if stage.startswith("inference:"):
                self.model_seconds.labels(stage.partition(":")[2]).observe(ms / 1e3)
            else:
                self.stage_seconds.labels(stage).observe(ms / 1e3)

    def serve(self, port, host="0.0.0.0"):
        """Start the /metrics HTTP server in a daemon thread; return it (``.server_port``, ``.shutdown``)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
