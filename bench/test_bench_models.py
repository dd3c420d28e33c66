"""Marker models: ONNX scoring latency per task, and training-cohort extraction throughput.

Groups:

- ``models-onnx[<task>]``: ``ModelRegistry.predict(features, tasks=[task])`` for one ROI (feature checks,
  input assembly, onnxruntime, contributions), side ``registry``; and the bare ``InferenceSession.run`` on
  the model's input row, side ``onnx``. The features are the sample study's, extracted once; before
  anything is timed the ONNX probability must equal the registry's.
- ``models-cohort``: :func:`spinerad.models.train.extract_cohort_features` over a simulated cohort (12
  cases; 4 with ``--benchmark-disable``) into a fresh per-case cache every round, with a progress bar
  (:func:`spinerad.cohort_progress.terminal_progress` on stderr). ``extra_info["cases_per_s"]`` is the
  throughput; a second run over the warm cache must read every case from it.

Needs no shared data. The JIT is warmed by the extraction of the sample study before any timing.
"""

import sys

import numpy as np
import pytest

import spinerad
from spinerad.cohort import terminal_progress
from spinerad.models.rebuild import DEMO_PARAMS
from spinerad.models.registry import load_models
from spinerad.models.simulate import simulate_cohort
from spinerad.models.tasks import TASKS
from spinerad.models.train import extract_cohort_features, read_training_csv
from spinerad.sample import make_sample_study
from spinerad.settings import load_params

N_CASES, N_SMOKE = 12, 4


@pytest.fixture(scope="module")
def registry_and_features():
    registry = load_models()
    image, mask = make_sample_study(0)
    return registry, spinerad.extract(image, mask, params=registry.extraction_params)


@pytest.mark.parametrize("task", list(TASKS))
def test_registry_predict(benchmark, registry_and_features, task):
    registry, features = registry_and_features
    benchmark.group = f"models-onnx[{task}]"
    benchmark.extra_info["side"] = "registry"
    (prediction,) = benchmark(registry.predict, features, [task])
    assert prediction["task"] == task


@pytest.mark.parametrize("task", list(TASKS))
def test_onnx_session_run(benchmark, registry_and_features, task):
    registry, features = registry_and_features
    model = registry.model(task)
    row = model.inputs(features, None)[None, :]
    feeds = {"features": np.ascontiguousarray(row)}
    (expected,) = registry.predict(features, [task])
    assert float(model.session.run(["probabilities"], feeds)[0][0, 1]) == pytest.approx(
        expected["probability"], abs=1e-12
    )
    benchmark.group = f"models-onnx[{task}]"
    benchmark.extra_info["side"] = "onnx"
    benchmark(model.session.run, ["probabilities"], feeds)


@pytest.fixture(scope="module")
def simulated_rows(request, tmp_path_factory):
    n = N_SMOKE if request.config.getoption("benchmark_disable") else N_CASES
    folder = tmp_path_factory.mktemp("bench-cohort")
    csv_path = simulate_cohort(
        folder, "egfr_mutation", {"A": n // 2, "C": n - n // 2}, seed=1, centres=("A", "C")
    )
    return read_training_csv(csv_path, "egfr_mutation").rows


def test_cohort_extraction_throughput(benchmark, simulated_rows, tmp_path_factory):
    params = load_params(DEMO_PARAMS)
    extract_cohort_features(simulated_rows[:1], params, None, False)  # warm the JIT (not timed)
    progress = terminal_progress(sys.stderr)
    caches = []

    def setup():
        caches.append(tmp_path_factory.mktemp("cache"))
        return (simulated_rows, params, caches[-1], False, progress(len(simulated_rows))), {}

    benchmark.group = "models-cohort"
    benchmark.extra_info["side"] = "extract-cached-per-case"
    names, X, kept, skipped = benchmark.pedantic(
        extract_cohort_features, setup=setup, rounds=3 if not benchmark.disabled else 1
    )
    assert len(kept) == len(simulated_rows) and not skipped and X.shape == (len(simulated_rows), len(names))
    if not benchmark.disabled:
        median = benchmark.stats.stats.median
        benchmark.extra_info["cases"] = len(simulated_rows)
        benchmark.extra_info["cases_per_s"] = len(simulated_rows) / median
        print(f"[models-cohort] {len(simulated_rows) / median:.1f} cases/s ({len(simulated_rows)} cases)")

    class Count:
        resumed = 0

        def update(self, status, skipped=False):
            Count.resumed += skipped

    extract_cohort_features(simulated_rows, params, caches[-1], False, Count())
    assert Count.resumed == len(simulated_rows)
