"""The service under stress (issue 15): slow uploads, memory, overload, disconnects, scratch, idle streams.

Each test runs a real server (``spinerad serve`` in a child process, or the in-process server where only
its metrics are needed) on 127.0.0.1 with free ports.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spinerad.service.client import Client, Study, Volume, upload_messages
from spinerad.v1 import service_pb2_grpc, study_pb2

from .conftest import WAIT, InThreadServer, sample_study
from .harness import REPO, ServerProcess, eventually


def metric(port, name, **labels):
    """One sample of a server's /metrics page (0 when absent)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def metrics_port(server):
    """The /metrics port a ServerProcess printed."""
    return int(server.listening.split("metrics on port ")[1].split(",")[0])


def test_slow_uploads_are_cut_and_free_their_places():
    """A header then nothing, and a header then a byte every 0.3 s, hold both places only until cut."""
    server = ServerProcess(
        "--metrics-port", "0", "--workers", "1", "--queue-size", "1",
        "--upload-idle-timeout", "1", "--upload-timeout", "3", module="spinerad",
    )  # fmt: skip
    stop = threading.Event()
    try:
        server.expect("SERVING")
        target = f"127.0.0.1:{server.port}"
        channel = grpc.insecure_channel(target)
        stub = service_pb2_grpc.InferenceServiceStub(channel)

        def silent():
            yield study_pb2.StudyUpload(header=sample_study("silent").header())
            stop.wait(WAIT)

        def trickle():
            yield study_pb2.StudyUpload(header=sample_study("trickle").header())
            offset = 0
            while not stop.wait(0.3):  # a slow client is slow by the clock: 3 bytes per second
                yield study_pb2.StudyUpload(
                    chunk=study_pb2.Chunk(part=study_pb2.PART_IMAGE, offset=offset, data=b"\0")
                )
                offset += 1

        calls = [stub.Analyze(silent(), timeout=WAIT), stub.Analyze(trickle(), timeout=WAIT)]
        assert [next(call).WhichOneof("kind") for call in calls] == ["accepted", "accepted"]
        with Client(target) as client:
            (refused,) = list(client.analyze([sample_study("while-held")], timeout=WAIT))
            assert refused.error.code == "RESOURCE_EXHAUSTED"
            details = []
            for call in calls:
                with pytest.raises(grpc.RpcError) as info:
                    list(call)
                assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                details.append(info.value.details())
            assert "stalled: no message for 1 s" in details[0]
            assert "took longer than 3 s" in details[1]
            result = client.analyze_study(sample_study("real", tasks=("ki67_high",)), timeout=WAIT)
            assert result["features"] and len(result["predictions"]) == 1
        port = metrics_port(server)
        assert metric(port, "spinerad_upload_timeouts_total", kind="idle") == 1
        assert metric(port, "spinerad_upload_timeouts_total", kind="total") == 1
        for code in ("DEADLINE_EXCEEDED", "OK"):
            expected = 2 if code == "DEADLINE_EXCEEDED" else 1
            assert metric(port, "spinerad_study_duration_seconds_count", rpc="Analyze", code=code) == expected
        assert metric(port, "spinerad_studies_admitted") == 0
        channel.close()
    finally:
        stop.set()
        server.close()


def _big_study(request_id, shape=(20, 512, 512)):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 1000, size=shape, dtype=np.int16)
    mask = np.zeros(shape, np.uint8)
    mask[8:12, 200:260, 200:260] = 1
    return Study(
        Volume.from_array(image, (0.5, 0.5, 3.0)),
        Volume.from_array(mask, (0.5, 0.5, 3.0), compress=True),
        request_id=request_id,
        tasks=("ki67_high",),
    )


def _counting(volume, read):
    """``volume`` whose chunks, as the client reads them to send, are counted in ``read``."""

    def chunks(size):
        for data in volume.chunks(size):
            read.append(len(data))
            yield data

    return Volume(volume.spec, chunks)


def test_a_refused_study_uploads_nothing():
    """Overload is refused before any upload byte is read, sent or stored."""
    server = InThreadServer(workers=1, queue_size=1).wait_ready()
    try:
        server.registry.gate.clear()
        held = [server.client().analyze([sample_study(f"hold-{i}", tasks=("ki67_high",))]) for i in range(2)]
        assert [next(stream).WhichOneof("kind") for stream in held] == ["accepted", "accepted"]
        study, read = _big_study("too-many"), []
        study.image = _counting(study.image, read)
        events = list(server.client().analyze([study], timeout=WAIT))
        assert [e.WhichOneof("kind") for e in events] == ["error"]
        assert events[0].error.code == "RESOURCE_EXHAUSTED"
        assert read == []  # the client did not even read the image
        assert server.sample("spinerad_received_bytes_total", part="refused") == 0
        server.registry.gate.set()
        for stream in held:
            assert [e.WhichOneof("kind") for e in stream][-1] == "completed"
    finally:
        server.registry.gate.set()
        server.stop()


_DISCONNECTING_CLIENT = """
import os, sys
from spinerad.service.client import upload_messages
from spinerad.v1 import service_pb2_grpc
from tests.service.conftest import sample_study
import grpc
channel = grpc.insecure_channel(sys.argv[1])
stub = service_pb2_grpc.InferenceServiceStub(channel)
def requests():
    for index, message in enumerate(upload_messages([sample_study("gone")], chunk_bytes=4096)):
        if index == 3:
            print("uploading", flush=True)
            sys.stdin.readline()  # the test kills this process here
        yield message
for event in stub.Analyze(requests()):
    pass
"""


def test_a_client_that_disappears_mid_upload_is_cancelled_in_the_metrics():
    server = InThreadServer(workers=1, queue_size=1).wait_ready()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _DISCONNECTING_CLIENT, server.target],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "uploading"
            assert eventually(lambda: server.engine.admission.held == 1)
            child.kill()
            child.wait(WAIT)
        finally:
            child.stdin.close()
            child.stdout.close()
        assert server.engine.admission.wait_idle(WAIT)
        rpc = ("spinerad_rpc_duration_seconds_count", {"rpc": "Analyze"})
        assert eventually(lambda: server.sample(rpc[0], **rpc[1], code="CANCELLED") == 1)
        assert server.sample(rpc[0], **rpc[1], code="INVALID_ARGUMENT") == 0
        study = "spinerad_study_duration_seconds_count"
        assert server.sample(study, rpc="Analyze", code="CANCELLED") == 1
        assert server.sample(study, rpc="Analyze", code="INVALID_ARGUMENT") == 0
    finally:
        server.stop()


def test_a_cancelled_upload_is_in_the_study_histogram():
    server = InThreadServer(workers=1, queue_size=1).wait_ready()
    try:
        stub = service_pb2_grpc.InferenceServiceStub(server.client().channel)
        resume = threading.Event()

        def requests():
            for index, message in enumerate(upload_messages([sample_study("cancel-me")], chunk_bytes=4096)):
                if index == 3:
                    resume.wait(WAIT)
                    return
                yield message

        call = stub.Analyze(requests(), timeout=WAIT)
        assert next(call).WhichOneof("kind") == "accepted"
        assert eventually(lambda: server.engine.admission.held == 1)
        call.cancel()
        resume.set()
        assert server.engine.admission.wait_idle(WAIT)
        study = "spinerad_study_duration_seconds_count"
        assert eventually(lambda: server.sample(study, rpc="Analyze", code="CANCELLED") == 1)
    finally:
        server.stop()


def _roots(folder):
    base = Path(folder) / "spinerad-scratch"
    return sorted(p for p in base.iterdir()) if base.exists() else []


def test_scratch_folders_of_a_killed_server_are_removed_at_the_next_start(tmp_path):
    args = ("--no-metrics", "--workers", "1", "--scratch-dir", str(tmp_path))
    killed = ServerProcess(*args, module="spinerad")
    try:
        (killed_root,) = _roots(tmp_path)
        leftover = killed_root / "tmp-upload" / "volume.nrrd"  # what a decode in progress leaves
        leftover.parent.mkdir()
        leftover.write_bytes(b"\0" * 4096)
        killed.process.send_signal(signal.SIGKILL)
    finally:
        killed.close()
    assert leftover.exists()
    sibling = ServerProcess(*args, module="spinerad")  # a live server sharing the folder
    try:
        assert not killed_root.exists()
        (sibling_root,) = _roots(tmp_path)
        restarted = ServerProcess(*args, module="spinerad")
        try:
            assert sibling_root.exists() and len(_roots(tmp_path)) == 2  # the live one's root is kept
            restarted.process.send_signal(signal.SIGTERM)
            assert restarted.process.wait(WAIT) == 0
            assert _roots(tmp_path) == [sibling_root]  # a clean exit removes its own root
        finally:
            restarted.close()
    finally:
        sibling.close()


def test_an_idle_open_stream_does_not_hold_the_shutdown():
    server = ServerProcess("--no-metrics", "--workers", "1", "--grace", "120", module="spinerad")
    stop = threading.Event()
    try:
        server.expect("SERVING")
        sent = []

        def one_study_then_idle():
            yield from upload_messages([sample_study("first", tasks=("ki67_high",))])
            sent.append(True)
            stop.wait(WAIT)  # the stream stays open, idle

        with Client(f"127.0.0.1:{server.port}") as client:
            call = service_pb2_grpc.InferenceServiceStub(client.channel).Analyze(
                one_study_then_idle(), timeout=WAIT
            )
            kinds = []
            for event in call:
                kinds.append(event.WhichOneof("kind"))
                if kinds[-1] == "completed":
                    break
            assert kinds[0] == "accepted" and kinds[-1] == "completed"
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError) as info:
                list(call)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            # bounded wait well under the 120 s grace: the process ends once the idle stream is ended
            assert server.process.wait(WAIT / 2) == 0
            assert time.monotonic() - started < WAIT / 2
    finally:
        stop.set()
        server.close()


def _rss_mb(pid):
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_stays_flat_across_studies():
    """Idle RSS after 70 studies (10 MB each, 2 at a time): back within the admitted bytes of the start.

    Bounded by what was admitted: 4 places x one study's declared bytes over the RSS of the warm server,
    and under 10 % growth from 10 to 70 studies.
    """
    server = ServerProcess("--no-metrics", "--workers", "2", "--queue-size", "2", module="spinerad")
    try:
        server.expect("SERVING")
        target = f"127.0.0.1:{server.port}"
        warm = _rss_mb(server.process.pid)
        study = _big_study("size")
        admitted_mb = 4 * (study.image.spec.total_bytes + study.mask.spec.total_bytes) / 2**20

        def batch(count, tag):
            errors = []

            def run(k):
                with Client(target) as client:
                    for i in range(count // 2):
                        try:
                            client.analyze_study(_big_study(f"{tag}-{k}-{i}"), timeout=WAIT)
                        except Exception as exc:  # reported below
                            errors.append(exc)

            threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT * 4)
            assert not errors
            return _rss_mb(server.process.pid)

        first = batch(10, "a")
        second = batch(60, "b")
        print(f"RSS warm {warm:.0f} MB; idle after 10 studies {first:.0f} MB, after 70 {second:.0f} MB")
        assert second <= 1.1 * first
        assert second <= warm + admitted_mb
    finally:
        server.close()


def test_a_study_sent_again_is_answered_from_the_first_result():
    """The same request id and header again (a retry after a lost answer): one computation, same result."""
    server = InThreadServer(workers=1, queue_size=1).wait_ready()
    try:
        client = server.client()
        first = list(client.analyze([sample_study("retry-me", tasks=("ki67_high",))], timeout=WAIT))
        calls = server.registry.calls
        received = server.sample("spinerad_received_bytes_total", part="image")
        again = list(client.analyze([sample_study("retry-me", tasks=("ki67_high",))], timeout=WAIT))
        assert [e.WhichOneof("kind") for e in first] == [
            "accepted",
            "stage_done",
            "stage_done",
            "prediction",
            "completed",
        ]
        assert again == first[1:]  # the stored events, no new "accepted"
        assert server.registry.calls == calls  # not computed again
        assert server.sample("spinerad_received_bytes_total", part="image") == received  # nor uploaded
        assert server.sample("spinerad_replayed_studies_total") == 1
        other = list(client.analyze([sample_study("retry-me", tasks=("her2_positive",))], timeout=WAIT))
        assert other[0].WhichOneof("kind") == "accepted"  # another header under that id is computed
        assert other[-1].WhichOneof("kind") == "completed" and server.registry.calls == calls + 1
    finally:
        server.stop()


def test_a_call_whose_header_comes_after_the_drain_began_gets_its_own_answer():
    """A call that has sent nothing yet when the drain begins is starting, not idle.

    Its header may be slow on a loaded machine: its study is refused UNAVAILABLE as an event, not cut before
    its header was read
    by the 1-s cut of idle streams.
    """
    from spinerad.service.streams import DRAIN_IDLE_S

    server = InThreadServer(workers=1, queue_size=1).wait_ready()
    release = threading.Event()

    def late_header():
        release.wait(WAIT)
        yield from upload_messages([sample_study("late")])

    client = Client(server.target)  # not the server's own: stopping the server would close it first
    stopper = None
    try:
        call = service_pb2_grpc.InferenceServiceStub(client.channel).Analyze(late_header(), timeout=WAIT)
        assert eventually(lambda: server.sample("spinerad_rpcs_in_flight", rpc="Analyze") == 1)
        stopper = threading.Thread(target=server.stop, kwargs={"grace": WAIT})
        stopper.start()
        assert eventually(lambda: server.engine.draining)
        time.sleep(2 * DRAIN_IDLE_S)  # longer than an idle stream is given
        release.set()
        events = list(call)
        assert events[0].WhichOneof("kind") == "error"
        assert events[0].error.code == "UNAVAILABLE" and "shutting down" in events[0].error.message
    finally:
        release.set()
        if stopper is not None:
            stopper.join(WAIT)
        else:
            server.stop()
        client.close()
