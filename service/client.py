"""Python client of the spinerad.v1 service, for PACS/RIS integrations and ``spinerad analyze``.

::

    from spinerad.service.client import Client, Study, Volume

    with Client("radiomics.hospital.local:50051", root_certificates=open("ca.pem", "rb").read(),
                token=os.environ["SPINERAD_TOKEN"]) as client:
        study = Study(Volume.from_path("series_dir/"), Volume.from_path("lesion.nrrd"),
                      request_id="acc-0001", tasks=("egfr_mutation",))
        for event in client.analyze([study]):
            print(event_to_dict(event))

Volumes are uploaded in chunks (1 MiB by default) straight from disk or memory; a study the server refuses
stops uploading. Failures raise :class:`ServiceError` carrying the gRPC status code name.
"""

import ipaddress
import itertools
import json
import os
import socket
import threading

import grpc
import numpy as np
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from spinerad.errors import SpineradError
from spinerad.models.notices import study_warnings
from spinerad.v1 import events_pb2, service_pb2_grpc

from .client_study import DEFAULT_CHUNK_BYTES, Study, Verdicts, Volume, upload_messages


class ServiceError(SpineradError):
    """A call or a study failed; ``code`` is the gRPC status code name (INVALID_ARGUMENT, ...)."""

    def __init__(self, code, message, request_id=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = message
        self.request_id = request_id

    @property
    def exit_code(self):
        """Exit code of ``spinerad analyze``: 2 for invalid input, 4 for any other failure."""
        return 2 if self.code == "INVALID_ARGUMENT" else 4


def _rpc_error(error, request_id=None):
    code = error.code()
    return ServiceError(code.name if code else "UNKNOWN", error.details() or str(code), request_id)


# --- events -------------------------------------------------------------------------------------------------


def event_to_dict(event):
    """An ``AnalyzeEvent`` as a flat dict: ``{"request_id", "event", ...fields}`` (features as floats)."""
    kind = event.WhichOneof("kind")
    body = getattr(event, kind)
    out = {"request_id": event.request_id, "event": kind}
    out.update(
        json_format.MessageToDict(
            body, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )
    if kind == "stage_done":
        out["features"] = dict(body.features)
        if not body.features:
            del out["features"]
    if kind == "prediction":
        out["probability"] = body.probability
        out["threshold"] = body.threshold
        out["domain_distance"] = body.domain_distance
        out["domain_threshold"] = body.domain_threshold
        out["label"] = body.label or None
        # google.protobuf.Value has one number type (double): give the card's counts back as integers.
        validation = out.get("validation")
        if isinstance(validation, dict):
            for key, value in validation.items():
                if key.endswith("_n") and isinstance(value, float) and value.is_integer():
                    validation[key] = int(value)
    if kind == "completed":  # result objects: their size here, not megabytes of base64
        out["dicom_objects"] = [
            {
                "name": o.name,
                "sop_class_uid": o.sop_class_uid,
                "sop_instance_uid": o.sop_instance_uid,
                "bytes": len(o.data),
            }
            for o in body.dicom_objects
        ]
    return out


# --- the client ---------------------------------------------------------------------------------------------


def channel_target(target):
    """A gRPC target for one ``host:port`` or URI, or for several replicas (a static address list).

    gRPC's ``ipv4:``/``ipv6:`` schemes take a comma-separated address list; host names in a list are
    resolved once, here (give one ``dns:///name:port`` instead to follow a changing set of replicas).
    """
    if isinstance(target, str):
        return target
    targets = list(target)
    if len(targets) == 1:
        return targets[0]
    addresses = []
    for item in targets:
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise SpineradError(f"replica {item!r} is not host:port")
        host = host.strip("[]")
        try:
            ips = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            except OSError as exc:
                raise SpineradError(f"cannot resolve replica {host!r}: {exc.strerror}") from None
            ips = [ipaddress.ip_address(info[4][0]) for info in infos]
        addresses += [(ip, int(port)) for ip in dict.fromkeys(ips)]
    versions = {ip.version for ip, _port in addresses}
    if versions == {4}:
        return "ipv4:" + ",".join(f"{ip}:{port}" for ip, port in addresses)
    mapped = (ip if ip.version == 6 else f"::ffff:{ip}" for ip, _port in addresses)
    return "ipv6:" + ",".join(f"[{ip}]:{port}" for ip, (_ip, port) in zip(mapped, addresses, strict=True))


class Client:
    """A channel to a spinerad server.

    Parameters
    ----------
    target : str or sequence of str
        ``host:port``, a gRPC target URI such as ``dns:///spinerad.ns.svc.cluster.local:50051`` (every
        address the name resolves to, re-resolved when connections fail), or several ``host:port``
        replicas. Calls are spread over all addresses with gRPC's ``round_robin`` policy.
    root_certificates : bytes or None
        CA bundle to verify the server (TLS). ``tls=True`` without it uses the system roots.
    client_cert, client_key : bytes or None
        This client's certificate chain and key, for mutual TLS.
    token : str or None
        Bearer token sent as ``authorization`` metadata.
    connections : int
        TCP connections this client opens to each address (calls take them in turn). Each ``Client`` has
        its own connections (gRPC would otherwise share one per target across the whole process), and a
        replica running ``spinerad serve --processes N`` gets its connections spread over its processes by
        the kernel (``SO_REUSEPORT``), one connection to one process: a single client that keeps many
        studies in flight should open a few per process to keep every process busy.
    """

    def __init__(
        self,
        target,
        *,
        tls=False,
        root_certificates=None,
        client_cert=None,
        client_key=None,
        token=None,
        options=(),
        resend=1,
        connections=1,
    ):
        target = channel_target(target)
        if connections < 1:
            raise SpineradError(f"connections must be at least 1, not {connections}")
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
            # gRPC shares one connection per target among all channels of a process (its global
            # subchannel pool): every client of a process would then reach the same server process
            ("grpc.use_local_subchannel_pool", 1),
            *options,
        ]
        #: How many times a study is re-sent after its replica failed (UNAVAILABLE) before ``completed``.
        self.resend = resend
        if tls or root_certificates or client_cert:
            credentials = grpc.ssl_channel_credentials(root_certificates, client_key, client_cert)
            self.channels = [
                grpc.secure_channel(target, credentials, options=options) for _ in range(connections)
            ]
        else:
            self.channels = [grpc.insecure_channel(target, options=options) for _ in range(connections)]
        #: The first channel (health checks and tests use it).
        self.channel = self.channels[0]
        self._stubs = itertools.cycle([service_pb2_grpc.InferenceServiceStub(c) for c in self.channels])
        self._stubs_lock = threading.Lock()
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    @property
    def _stub(self):
        """The stub of the next connection (calls take the client's connections in turn)."""
        with self._stubs_lock:
            return next(self._stubs)

    def close(self):
        """Close the channels."""
        for channel in self.channels:
            channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def analyze(self, studies, *, chunk_bytes=DEFAULT_CHUNK_BYTES, timeout=None):
        """Upload ``studies`` on one stream; yield the ``AnalyzeEvent`` s as the server sends them.

        A per-study failure is an event (``event.error``); a failure of the whole call raises
        :class:`ServiceError`. Close the generator (or break) to cancel the call.

        A replica that goes away (the call fails UNAVAILABLE, or a study is refused UNAVAILABLE because the
        replica is shutting down) does not fail the studies it had not finished: they are re-sent, on a new
        call that the ``round_robin`` policy gives to another replica, up to :attr:`resend` times each. The
        request id makes that safe; the events of a re-sent study start again with ``accepted``, and it
        ends with exactly one ``completed`` or ``error``. ``timeout`` applies to each call.
        """
        studies = list(studies)
        sent = dict.fromkeys((s.request_id for s in studies), 0)
        while studies:
            finished, again, failure = set(), [], None
            try:
                for event in self._analyze_once(studies, chunk_bytes, timeout):
                    kind = event.WhichOneof("kind")
                    rid = event.request_id
                    unavailable = kind == "error" and event.error.code == "UNAVAILABLE"
                    if unavailable and sent.get(rid, self.resend) < self.resend:
                        again.append(rid)  # the replica is shutting down: another one takes it
                        finished.add(rid)
                        continue
                    if kind in ("completed", "error"):
                        finished.add(rid)
                    yield event
            except ServiceError as exc:
                failure = exc
            unfinished = [s for s in studies if s.request_id not in finished]
            if failure is not None and unfinished:
                exhausted = any(sent[s.request_id] >= self.resend for s in unfinished)
                if failure.code != "UNAVAILABLE" or exhausted:
                    raise failure
            retry = {*again, *(s.request_id for s in unfinished)}
            studies = [s for s in studies if s.request_id in retry]
            for study in studies:
                sent[study.request_id] += 1

    def _analyze_once(self, studies, chunk_bytes, timeout):
        verdicts = Verdicts()
        call = self._stub.Analyze(
            upload_messages(studies, chunk_bytes, verdicts=verdicts), timeout=timeout, metadata=self._metadata
        )
        try:
            for event in call:
                kind = event.WhichOneof("kind")
                # the first event of a study is its verdict: accepted (upload it), or anything else
                # (refused, or answered at once from a replica's recent results): send no chunks
                verdicts.answer(event.request_id, kind == "accepted")
                yield event
        except grpc.RpcError as error:
            raise _rpc_error(error) from None
        finally:
            verdicts.close()
            call.cancel()

    def analyze_study(self, study, **kwargs):
        """One study's result: ``{"warnings", "features", "predictions", "stage_ms"}``.

        Raises :class:`ServiceError` when the study fails.

        ``warnings`` gathers the predictions' warnings, each distinct line once (the simulated-cohort
        notice first).
        """
        result = {"warnings": [], "features": {}, "predictions": [], "stage_ms": {}}
        for event in self.analyze([study], **kwargs):
            kind = event.WhichOneof("kind")
            if kind == "error":
                raise ServiceError(event.error.code, event.error.message, event.request_id)
            if kind == "stage_done" and event.stage_done.stage == "features":
                result["features"] = dict(event.stage_done.features)
            elif kind == "prediction":
                result["predictions"].append(event_to_dict(event))
            elif kind == "completed":
                result["stage_ms"] = dict(event.completed.stage_ms)
                result["stored"] = list(event.completed.stored_sop_instance_uids)
        result["warnings"] = study_warnings(result["predictions"])
        return result

    def extract_features(self, study, *, chunk_bytes=DEFAULT_CHUNK_BYTES, timeout=None):
        """Features of one study: ``{"features", "stage_ms", "settings_hash"}``."""
        try:
            response = self._stub.ExtractFeatures(
                upload_messages([study], chunk_bytes), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise _rpc_error(error, study.request_id) from None
        return {
            "features": dict(response.features),
            "stage_ms": dict(response.stage_ms),
            "settings_hash": response.settings_hash,
        }

    def feature_maps(self, study, *, chunk_bytes=DEFAULT_CHUNK_BYTES, timeout=None):
        """Voxel-wise feature maps of one study (FeatureMaps): ``{feature name: SimpleITK.Image}``."""
        import SimpleITK as sitk

        buffers, grids = {}, {}
        try:
            for chunk in self._stub.FeatureMaps(
                upload_messages([study], chunk_bytes), timeout=timeout, metadata=self._metadata
            ):
                if chunk.HasField("grid"):
                    grids[chunk.feature] = chunk.grid
                    buffers[chunk.feature] = bytearray(chunk.total_bytes)
                buffers[chunk.feature][chunk.offset : chunk.offset + len(chunk.data)] = chunk.data
        except grpc.RpcError as error:
            raise _rpc_error(error, study.request_id) from None
        maps = {}
        for name, grid in grids.items():
            shape = tuple(reversed(grid.size))
            image = sitk.GetImageFromArray(np.frombuffer(bytes(buffers[name]), dtype="<f8").reshape(shape))
            image.SetSpacing(tuple(grid.spacing))
            image.SetOrigin(tuple(grid.origin))
            image.SetDirection(tuple(grid.direction))
            maps[name] = image
        return maps

    def list_models(self, timeout=None):
        """``ListModelsResponse`` as a dict."""
        try:
            response = self._stub.ListModels(
                events_pb2.ListModelsRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise _rpc_error(error) from None
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def model_card(self, task, timeout=None):
        """The model card of ``task`` as a dict."""
        try:
            response = self._stub.GetModelCard(
                events_pb2.GetModelCardRequest(task=task), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise _rpc_error(error) from None
        return json_format.MessageToDict(response.card)

    def health(self, service="", timeout=None):
        """The health status name (SERVING, NOT_SERVING, ...) of ``service`` ("" = the server)."""
        try:
            response = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            raise _rpc_error(error) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def watch_health(self, service="", timeout=None):
        """Yield the health status names as they change (the first is the current one)."""
        try:
            for response in self._health.Watch(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            ):
                yield health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        except grpc.RpcError as error:
            raise _rpc_error(error) from None

    def wait_until_serving(self, timeout=60.0):
        """Block until health reports SERVING; :class:`ServiceError` DEADLINE_EXCEEDED after ``timeout``."""
        for state in self.watch_health(timeout=timeout):
            if state == "SERVING":
                return


def token_from_env():
    """``$SPINERAD_TOKEN``, or None."""
    return os.environ.get("SPINERAD_TOKEN") or None


__all__ = ["Client", "ServiceError", "Study", "Volume", "event_to_dict", "token_from_env", "upload_messages"]


__all__ = [
    "Client",
    "DEFAULT_CHUNK_BYTES",
    "ServiceError",
    "Study",
    "Verdicts",
    "Volume",
    "channel_target",
    "event_to_dict",
    "token_from_env",
    "upload_messages",
]
