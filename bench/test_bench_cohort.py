"""Cohort extraction: cases/s on a local Dask cluster of 1 and 2 workers, and its overhead over a plain loop.

The cohort is 40 brain-sized cases: copies of the PyRadiomics brain1 and brain2 studies (256x256x25 and
256x256x23 voxels), each copy tagged with its own NRRD header field so that its bytes (and therefore its
cohort key) differ while its features stay those of the original. With ``--benchmark-disable`` (the smoke
run) the cohort is 4 cases.

Three sides in the group ``cohort``:

- ``in-process``: a loop of :func:`spinerad.extract` over the same files in this process (the baseline);
- ``dask-1-worker`` / ``dask-2-workers``: :func:`spinerad.cohort.extract_cohort` on a ``LocalCluster`` of
  single-threaded worker processes, every round into a fresh output (no part to resume from), so a round
  includes hashing, scheduling, parts and the output table.

Clusters start, and every worker loads the JIT cache, before anything is timed; the first (untimed) cohort
run must reproduce the in-process values exactly. Each Dask benchmark records ``cases_per_s`` and, against
the in-process median, ``overhead_ms_per_case`` in its ``extra_info`` (and prints them; ``-s`` shows them).
"""

import csv
import math

import pytest
import SimpleITK as sitk

import spinerad
from spinerad import cohort

pytestmark = pytest.mark.shared

N_CASES, N_SMOKE = 40, 4
ROUNDS = 3
_MEDIANS = {}


@pytest.fixture(scope="module")
def brain_cohort(request, case_files, tmp_path_factory):
    """Write the cohort CSV; return (csv path, [(image, mask)], in-process features per row)."""
    n = N_SMOKE if request.config.getoption("benchmark_disable") else N_CASES
    brain1_image, brain1_mask = case_files("brain1")
    sources = [
        (brain1_image, brain1_mask),
        (brain1_image.with_name("brain2_image.nrrd"), brain1_image.with_name("brain2_label.nrrd")),
    ]
    folder = tmp_path_factory.mktemp("brain-cohort")
    images = {src: sitk.ReadImage(str(src)) for src, _ in sources}
    rows = []
    for i in range(n):
        source, mask = sources[i % 2]
        image = images[source]
        image.SetMetaData("spinerad_bench_copy", str(i))  # distinct bytes, same voxels
        path = folder / f"case{i:02d}.nrrd"
        sitk.WriteImage(image, str(path), False)
        rows.append((f"case{i:02d}", str(path), str(mask)))
    csv_path = folder / "cohort.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "mask"])
        writer.writerows(rows)
    cases = [(image, mask) for _, image, mask in rows]
    reference = [spinerad.extract(image, mask) for image, mask in cases]
    return csv_path, cases, reference


def _record(benchmark, side, n_cases):
    if benchmark.disabled:
        return
    median = benchmark.stats.stats.median
    _MEDIANS[side] = median
    benchmark.extra_info["cases"] = n_cases
    benchmark.extra_info["cases_per_s"] = n_cases / median
    line = f"[cohort] {side}: {n_cases / median:.2f} cases/s ({median:.2f} s for {n_cases} cases)"
    if side != "in-process" and "in-process" in _MEDIANS:
        overhead = (median - _MEDIANS["in-process"]) / n_cases * 1e3
        benchmark.extra_info["overhead_ms_per_case"] = overhead
        line += f", {overhead:+.1f} ms/case vs in-process"
    print(line)


def test_in_process_loop(benchmark, brain_cohort):
    _, cases, reference = brain_cohort
    benchmark.group = "cohort"
    benchmark.extra_info["side"] = "in-process"

    def loop():
        return [spinerad.extract(image, mask) for image, mask in cases]

    features = benchmark.pedantic(loop, rounds=ROUNDS, iterations=1)
    for got, want in zip(features, reference, strict=True):
        assert all(_same(got[k], v) for k, v in want.items())
    _record(benchmark, "in-process", len(cases))


def _warm(image, mask):
    spinerad.extract(image, mask)


def _same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("n_workers", [1, 2])
def test_dask_cluster(benchmark, brain_cohort, tmp_path, n_workers):
    import pyarrow.parquet as pq

    csv_path, cases, reference = brain_cohort
    side = f"dask-{n_workers}-worker{'s' if n_workers > 1 else ''}"
    benchmark.group = "cohort"
    benchmark.extra_info["side"] = side
    rounds = iter(range(1000))

    with cohort.dask_client(n_workers=n_workers) as client:
        client.run(_warm, *map(str, cases[0]))  # every worker loads the JIT cache, untimed
        checked = tmp_path / "checked.parquet"
        cohort.extract_cohort(csv_path, checked, client=client)
        rows = pq.read_table(checked).to_pylist()
        for row, want in zip(rows, reference, strict=True):
            assert row["status"] == "ok" and all(_same(row[k], v) for k, v in want.items())

        def fresh_output():
            return (tmp_path / f"round{next(rounds)}.parquet",), {}

        def run(out):
            return cohort.extract_cohort(csv_path, out, client=client)

        summary = benchmark.pedantic(run, setup=fresh_output, rounds=ROUNDS, iterations=1)
    assert (summary.ok, summary.computed, summary.skipped) == (len(cases), len(cases), 0)
    _record(benchmark, side, len(cases))
