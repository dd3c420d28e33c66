"""Several replicas behind gRPC's round_robin policy: a replica killed under load loses no study."""

import collections
import signal
import threading

from spinerad.service.client import Client

from .conftest import WAIT, sample_study
from .harness import ServerProcess

STUDIES = 18
THREADS = 6


def test_a_replica_killed_under_load_loses_no_study():
    replicas = []
    try:
        for _ in range(3):
            replicas.append(ServerProcess("--no-metrics", "--workers", "1", "--queue-size", "8"))
        for replica in replicas:
            replica.expect("SERVING")
        victim = replicas[0]
        victim.send("close")  # the victim's studies stop at their first prediction until it is killed
        victim.expect("gated: gate closed")
        client = Client([f"127.0.0.1:{r.port}" for r in replicas])
        events = collections.defaultdict(list)
        errors = []
        lock = threading.Lock()

        def run(k):
            try:
                for i in range(k, STUDIES, THREADS):
                    rid = f"study-{i}"
                    for event in client.analyze([sample_study(rid, tasks=("ki67_high",))], timeout=WAIT):
                        with lock:
                            events[rid].append(event.WhichOneof("kind"))
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
        for thread in threads:
            thread.start()
        victim.expect("gated: predict waiting")  # round_robin gave the victim a study; it is computing
        victim.process.send_signal(signal.SIGKILL)
        for thread in threads:
            thread.join(WAIT * 2)
        assert not errors
        assert sorted(events) == sorted(f"study-{i}" for i in range(STUDIES))
        for rid, kinds in events.items():
            assert kinds.count("completed") == 1 and "error" not in kinds, (rid, kinds)
            assert kinds[-1] == "completed"
        resent = [rid for rid, kinds in events.items() if kinds.count("accepted") == 2]
        assert resent  # the victim's studies were re-sent to the others
        assert all(kinds.count("accepted") <= 2 for kinds in events.values())  # once at most
        client.close()
    finally:
        for replica in replicas:
            replica.close()
