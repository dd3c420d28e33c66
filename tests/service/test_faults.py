"""Faults: cancel mid-upload, deadlines, a full admission queue, SIGTERM with studies in flight."""

import json
import signal
import threading
import urllib.request

import grpc
import pytest

from spinerad.cli import main
from spinerad.service.client import Client, ServiceError, upload_messages
from spinerad.service.pool import CancelToken
from spinerad.v1 import service_pb2_grpc

from .conftest import WAIT, InThreadServer, assert_serving, sample_study
from .harness import ServerProcess, eventually


@pytest.fixture
def gated():
    """A fresh server (1 worker, queue 1: two studies at most) whose models wait at a gate."""
    running = InThreadServer(workers=1, queue_size=1).wait_ready()
    yield running
    running.registry.gate.set()
    running.stop()


def test_client_cancel_mid_upload_frees_the_study(gated):
    stub = service_pb2_grpc.InferenceServiceStub(gated.client().channel)
    sent_enough = threading.Event()
    resume = threading.Event()

    def requests():
        for index, message in enumerate(upload_messages([sample_study("cancel-me")], chunk_bytes=4096)):
            if index == 5:
                sent_enough.set()
                resume.wait(WAIT)  # never set: the call is cancelled while the upload hangs here
                return
            yield message

    call = stub.Analyze(requests(), timeout=WAIT)
    first = next(call)
    assert first.WhichOneof("kind") == "accepted"
    assert sent_enough.wait(WAIT)
    assert gated.engine.admission.held == 1
    call.cancel()
    resume.set()
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    assert gated.engine.admission.wait_idle(WAIT)  # the half-uploaded study's place and buffers are gone
    assert_serving(gated)


def test_client_cancel_while_computing_stops_the_work(gated, monkeypatch):
    cancelled = threading.Event()
    original = CancelToken.cancel

    def cancel(self, reason="the call was cancelled"):
        original(self, reason)
        cancelled.set()

    monkeypatch.setattr(CancelToken, "cancel", cancel)
    gated.registry.gate.clear()
    client = gated.client()
    events = client.analyze(
        [sample_study("stop-me", tasks=("ki67_high", "her2_positive", "egfr_t790m"))], timeout=WAIT
    )
    kinds = []
    for event in events:
        kinds.append(event.WhichOneof("kind"))
        if event.WhichOneof("kind") == "stage_done" and event.stage_done.stage == "features":
            break
    assert gated.registry.waiting.wait(WAIT)  # the first model is "running"
    calls = gated.registry.calls
    events.close()  # cancels the call
    assert cancelled.wait(WAIT)  # the server saw the cancellation and told the worker
    gated.registry.gate.set()
    assert gated.engine.admission.wait_idle(WAIT)
    assert gated.registry.calls == calls  # the other two models never ran
    assert_serving(gated)


def test_deadline_shorter_than_the_work(gated):
    gated.registry.gate.clear()
    client = gated.client()
    calls = gated.registry.calls
    with pytest.raises(ServiceError) as info:
        list(client.analyze([sample_study("slow", tasks=("ki67_high", "her2_positive"))], timeout=1.0))
    assert info.value.code == "DEADLINE_EXCEEDED"
    gated.registry.gate.set()
    assert gated.engine.admission.wait_idle(WAIT)
    assert gated.registry.calls == calls + 1  # stopped at the next stage: the second model never ran
    # the server ends the call on its own deadline timer, which a loaded machine may run a little later
    metric = ("spinerad_rpc_duration_seconds_count", {"rpc": "Analyze", "code": "DEADLINE_EXCEEDED"})
    assert eventually(lambda: gated.sample(metric[0], **metric[1]) == 1)
    assert_serving(gated)


def test_full_admission_queue_is_refused_at_once_then_recovers(gated):
    gated.registry.gate.clear()
    held = [
        gated.client().analyze([sample_study(f"hold-{i}", tasks=("ki67_high",))], timeout=WAIT)
        for i in range(2)
    ]
    firsts = [next(stream) for stream in held]
    assert [e.WhichOneof("kind") for e in firsts] == ["accepted", "accepted"]
    assert gated.engine.admission.held == 2
    (refused,) = list(gated.client().analyze([sample_study("one-too-many")], timeout=WAIT))
    assert refused.error.code == "RESOURCE_EXHAUSTED" and "admission queue is full" in refused.error.message
    with pytest.raises(ServiceError, match="RESOURCE_EXHAUSTED"):
        gated.client().extract_features(sample_study("features-too"), timeout=WAIT)
    assert gated.sample("spinerad_rejected_requests_total", reason="queue_full") == 2
    gated.registry.gate.set()
    for stream in held:
        assert [e.WhichOneof("kind") for e in stream][-1] == "completed"
    assert gated.engine.admission.wait_idle(WAIT)
    assert_serving(gated)


def test_spinerad_serve_command_lifecycle(brain1, capsys):
    """The real command: shipped models by default, /metrics on its own port, SIGTERM exits 0."""
    server = ServerProcess("--metrics-port", "0", "--workers", "1", module="spinerad")
    try:
        metrics_port = int(server.listening.split("metrics on port ")[1].split(",")[0])
        server.expect("SERVING")
        image, mask = brain1
        capsys.readouterr()
        assert main(["analyze", str(image), str(mask), "--server", f"127.0.0.1:{server.port}"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (
            len([e for e in events if e["event"] == "prediction"]) == 7 and events[-1]["event"] == "completed"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=WAIT) as response:
            text = response.read().decode()
        assert 'spinerad_study_duration_seconds_count{code="OK",rpc="Analyze"} 1.0' in text
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(WAIT) == 0
    finally:
        server.close()


def test_sigterm_drains_studies_in_flight_and_exits_0():
    server = ServerProcess("--no-metrics", "--workers", "2", "--queue-size", "2", "--grace", "60")
    try:
        server.expect("SERVING")
        server.send("close")
        server.expect("gated: gate closed")
        client = Client(f"127.0.0.1:{server.port}")
        results = {}
        accepted = {f"inflight-{i}": threading.Event() for i in range(3)}

        def run(rid):
            kinds = []
            try:
                for e in client.analyze([sample_study(rid, tasks=("ki67_high",))]):
                    kinds.append(e.WhichOneof("kind"))
                    if kinds[-1] == "accepted":
                        accepted[rid].set()
                results[rid] = kinds
            except ServiceError as exc:
                results[rid] = exc

        threads = [threading.Thread(target=run, args=(f"inflight-{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for _ in range(2):  # two computing (2 workers), the third uploaded and queued behind them
            try:
                server.expect("gated: predict waiting")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the clients got {results}") from None
        # all three admitted before SIGTERM: two reaching the gate says nothing of the third, whose header
        # a loaded machine may deliver after the drain began (then it is refused, rightly)
        assert all(event.wait(WAIT) for event in accepted.values()), results
        server.process.send_signal(signal.SIGTERM)
        server.expect("draining")
        assert client.health() == "NOT_SERVING"
        with Client(f"127.0.0.1:{server.port}") as late:
            late_events = list(late.analyze([sample_study("after-sigterm")], timeout=WAIT))
        assert late_events[0].error.code == "UNAVAILABLE" and "shutting down" in late_events[0].error.message
        server.send("open")
        for thread in threads:
            thread.join(WAIT)
        assert server.process.wait(WAIT) == 0
        assert results == {
            f"inflight-{i}": ["accepted", "stage_done", "stage_done", "prediction", "completed"]
            for i in range(3)
        }
        client.close()
    finally:
        server.close()
