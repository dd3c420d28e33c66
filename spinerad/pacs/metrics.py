"""The DICOM node's Prometheus metrics (received/stored instances, spool depth, failures, turnaround)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NodeMetrics:
    """The node's Prometheus metrics (beside the service's stage/model histograms in the same registry)."""

    def __init__(self, registry=None):
        from spinerad.service.metrics import LATENCY_BUCKETS, ServiceMetrics

        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.service = ServiceMetrics(r)
        self.received = Counter(
            "spinerad_dicom_received_instances", "Instances received by C-STORE.", registry=r
        )
        self.received_bytes = Counter(
            "spinerad_dicom_received_bytes", "Bytes of received instances.", registry=r
        )
        self.refused = Counter(
            "spinerad_dicom_refused_instances", "C-STOREs refused, by reason.", ["reason"], registry=r
        )
        self.rejected_associations = Counter(
            "spinerad_dicom_rejected_associations",
            "Associations rejected (calling AE not allowed).",
            registry=r,
        )
        self.stored = Counter(
            "spinerad_dicom_stored_instances", "Result objects stored to PACS by C-STORE.", registry=r
        )
        self.store_failures = Counter(
            "spinerad_dicom_store_failures", "Failed attempts to store a study's results.", registry=r
        )
        self.study_failures = Counter(
            "spinerad_dicom_study_failures", "Studies whose analysis failed, by kind.", ["kind"], registry=r
        )
        self.studies_done = Counter(
            "spinerad_dicom_studies_completed", "Studies analysed and reported (results stored).", registry=r
        )
        self.spool_depth = Gauge("spinerad_dicom_spool_studies", "Studies in the spool.", registry=r)
        self.turnaround = Histogram(
            "spinerad_dicom_turnaround_seconds",
            "Last instance received to results stored in PACS (includes the quiet period).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.analysis_seconds = Histogram(
            "spinerad_dicom_analysis_seconds",
            "Analysis of one study (all its ROIs).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
