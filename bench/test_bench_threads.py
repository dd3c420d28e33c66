"""1 vs 2 threads: the same extraction in processes started with ``NUMBA_NUM_THREADS=1`` and ``=2``.

The thread count of Numba's pool is fixed when a process starts, and spinerad's extraction workers follow it
(:func:`spinerad.workers.extract_threads`), so each side runs in its own fresh interpreter: it loads the
case, warms up (JIT cache, first call), then times ``ROUNDS`` extractions and reports their median. The two
sides alternate ``PAIRS`` times so that load from other processes hits both alike. Groups
``threads-<profile>[<case>]``; the benchmark's own timing is one pair of child processes, the children's
in-process medians are ``one_thread_extract_s`` / ``two_threads_extract_s`` (printed by the summary, with
their ratio).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.shared

ROUNDS = 9
PAIRS = 2

PROFILES = {
    "full-default": {"setting": {"label": 1, "additionalInfo": False}},
}

CHILD = """
import json, statistics, sys, time
import spinerad
image, mask = spinerad.read_study(sys.argv[1], sys.argv[2])
params = spinerad.load_params(json.loads(sys.argv[3]))
spinerad.extract(image, mask, params=params)
times = []
for _ in range(int(sys.argv[4])):
    start = time.perf_counter()
    spinerad.extract(image, mask, params=params)
    times.append(time.perf_counter() - start)
print(json.dumps({"extract_s": statistics.median(times)}))
"""


def run_child(image, mask, params, threads, rounds=ROUNDS):
    """One fresh interpreter with ``threads`` Numba threads; returns its in-process median (seconds)."""
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    env.pop("SPINERAD_EXTRACT_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(image), str(mask), json.dumps(params), str(rounds)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["extract_s"]


@pytest.mark.parametrize("study", ["lung2", "brain1", "ibsi_ct_phantom"])
@pytest.mark.parametrize("profile", list(PROFILES))
def test_threads(benchmark, case_files, profile, study):
    """In-process medians with 1 and with 2 threads, from fresh processes that alternate."""
    image, mask = case_files(study)
    benchmark.group = f"threads-{profile}[{study}]"
    benchmark.extra_info["side"] = "1-then-2-threads"
    one, two = [], []

    def pair():
        one.append(run_child(image, mask, PROFILES[profile], 1))
        two.append(run_child(image, mask, PROFILES[profile], 2))

    benchmark.pedantic(pair, rounds=PAIRS, iterations=1)
    benchmark.extra_info["one_thread_extract_s"] = one
    benchmark.extra_info["two_threads_extract_s"] = two
    assert all(m > 0 for m in one + two)
