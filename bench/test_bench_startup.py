"""Startup: a fresh Python process's first extraction, with a warm Numba JIT cache (target < 3 s).

Every kernel compiles with ``cache=True``, so a process after the first loads machine code from the cache
instead of compiling. One subprocess warms the cache (not timed; its own times are recorded as
``warming_*``); then each timed round starts a new interpreter that imports spinerad, loads brain1 and
runs one extraction with the ``params`` of the other benchmarks (firstorder, glcm, glrlm). The benchmark
median is the whole subprocess (interpreter start, imports, file loading, extraction); the process
reports ``import_and_extract_s`` (import spinerad + first extract, file loading excluded) and
``extract_s`` (the first extract alone), split into ``compute_s`` (a second, warm extract) and
``cache_load_s`` (the difference: loading the kernels from the JIT cache and first-call work), which the
session summary prints as medians over the rounds. ``startup-cli[brain1]`` times the whole
``spinerad extract`` command (interpreter, imports, file reading, extraction, JSON output).

Warming also writes the package's bytecode (``compileall``, as ``pip install`` does): with
``PYTHONDONTWRITEBYTECODE`` set, or a checkout whose ``__pycache__`` is stale, every process would otherwise
compile spinerad's ~45 modules again (~50 ms), which no installed copy does.
"""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.shared

ROUNDS = 3

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import spinerad
from spinerad import extract  # spinerad's names load on first use: import what an extraction needs
t1 = time.perf_counter()
image, mask = spinerad.read_study(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
features = spinerad.extract(image, mask, params=json.loads(sys.argv[3]))
t3 = time.perf_counter()
spinerad.extract(image, mask, params=json.loads(sys.argv[3]))
t4 = time.perf_counter()
assert features
print(json.dumps({"import_s": t1 - t0, "extract_s": t3 - t2, "import_and_extract_s": (t1 - t0) + (t3 - t2),
                  "compute_s": t4 - t3, "cache_load_s": (t3 - t2) - (t4 - t3)}))
"""


def compile_bytecode():
    """Write the bytecode of spinerad's own modules, as an installed copy has it (part of warming)."""
    import compileall
    from pathlib import Path

    import spinerad
    import spinerad.kernels
    import spinerad.models

    for package in (spinerad, spinerad.kernels, spinerad.models):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1, force=False)


def run_child(image, mask, params):
    """Run one fresh interpreter and return the times it measured itself."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(image), str(mask), json.dumps(params)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_extract_in_fresh_process(benchmark, case_files, params):
    """Import spinerad and extract brain1 once, in new interpreters, after one cache-warming run."""
    image, mask = case_files("brain1")
    compile_bytecode()
    warming = run_child(image, mask, params)
    benchmark.group = "startup[brain1]"
    benchmark.extra_info["side"] = "fresh-process"
    benchmark.extra_info["warming_import_and_extract_s"] = [warming["import_and_extract_s"]]
    rounds = []
    benchmark.pedantic(lambda: rounds.append(run_child(image, mask, params)), rounds=ROUNDS, iterations=1)
    for key in ("import_s", "extract_s", "import_and_extract_s", "compute_s", "cache_load_s"):
        benchmark.extra_info[key] = [r[key] for r in rounds]
    assert rounds


def test_cli_extract_process(benchmark, case_files):
    """``spinerad extract`` on brain1 with default settings: the whole process, as a user runs it (<= 0.6 s).

    The first, untimed run warms the JIT cache. ``python -X importtime`` on the same command line shows
    where the import part goes.
    """
    image, mask = case_files("brain1")
    command = [sys.executable, "-m", "spinerad", "extract", str(image), str(mask)]
    compile_bytecode()
    warm = subprocess.run(command, capture_output=True, text=True, check=False)
    assert warm.returncode == 0, warm.stderr
    benchmark.group = "startup-cli[brain1]"
    benchmark.extra_info["side"] = "spinerad-extract"

    def run():
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert json.loads(benchmark.pedantic(run, rounds=ROUNDS, iterations=1))
