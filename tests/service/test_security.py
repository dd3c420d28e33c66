"""TLS, mutual TLS and bearer tokens; health stays reachable without credentials."""

import datetime
import ipaddress

import grpc
import pytest

from spinerad.service.client import Client, ServiceError
from spinerad.v1 import events_pb2, service_pb2_grpc
from tests.conftest import require_module

from .conftest import WAIT, InThreadServer, sample_study

x509 = require_module("cryptography.x509")  # a test dependency: under CI its absence fails, never skips
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _certificate(name, issuer_name, issuer_key, key, ca=False, san=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(item):
    if hasattr(item, "private_bytes"):
        return item.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return item.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("spinerad test CA", "spinerad test CA", ca_key, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        "localhost",
        "spinerad test CA",
        ca_key,
        server_key,
        san=(x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("pacs-gateway", "spinerad test CA", ca_key, client_key)
    files = {}
    for name, item in {
        "ca": ca,
        "server": server,
        "server_key": server_key,
        "client": client,
        "client_key": client_key,
    }.items():
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(_pem(item))
    return files


def test_tls(pki):
    server = InThreadServer(tls_cert=str(pki["server"]), tls_key=str(pki["server_key"]), metrics_port=None)
    try:
        server.wait_ready()
        with Client(server.target, root_certificates=pki["ca"].read_bytes()) as client:
            assert client.health() == "SERVING"
            assert client.analyze_study(sample_study("tls"), timeout=WAIT)["features"]
        with Client(server.target) as plaintext, pytest.raises(ServiceError, match="UNAVAILABLE"):
            plaintext.health(timeout=10)
    finally:
        server.stop()


def test_mutual_tls(pki):
    server = InThreadServer(
        tls_cert=str(pki["server"]),
        tls_key=str(pki["server_key"]),
        tls_client_ca=str(pki["ca"]),
        metrics_port=None,
    )
    try:
        server.wait_ready()
        ca = pki["ca"].read_bytes()
        with Client(
            server.target,
            root_certificates=ca,
            client_cert=pki["client"].read_bytes(),
            client_key=pki["client_key"].read_bytes(),
        ) as client:
            assert client.analyze_study(sample_study("mtls"), timeout=WAIT)["features"]
        with (
            Client(server.target, root_certificates=ca) as anonymous,
            pytest.raises(ServiceError, match="UNAVAILABLE"),
        ):
            anonymous.health(timeout=10)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token_server():
    server = InThreadServer(tokens=("s3cret-token", "second-token"), metrics_port=None).wait_ready()
    yield server
    server.stop()


def test_bearer_token_required_except_for_health(token_server):
    with Client(token_server.target) as anonymous:
        assert anonymous.health() == "SERVING"  # probes need no token
        with pytest.raises(ServiceError, match="UNAUTHENTICATED: missing or invalid bearer token"):
            anonymous.list_models()
        with pytest.raises(ServiceError, match="UNAUTHENTICATED"):
            list(anonymous.analyze([sample_study("no-token")], timeout=WAIT))
    with (
        Client(token_server.target, token="wrong") as wrong,
        pytest.raises(ServiceError, match="UNAUTHENTICATED"),
    ):
        wrong.extract_features(sample_study("wrong-token"), timeout=WAIT)
    for token in ("s3cret-token", "second-token"):
        with Client(token_server.target, token=token) as client:
            assert client.analyze_study(sample_study("token"), timeout=WAIT)["features"]
    with grpc.insecure_channel(token_server.target) as channel, pytest.raises(grpc.RpcError) as info:
        service_pb2_grpc.InferenceServiceStub(channel).GetModelCard(
            events_pb2.GetModelCardRequest(task="ki67_high"),
            metadata=(("authorization", "Basic s3cret-token"),),  # right token, wrong scheme
            timeout=WAIT,
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert token_server.server.metrics.rejected.labels("unauthenticated")._value.get() >= 4
