"""Cohort extraction on a real local Dask cluster: exact values, error rows, order, resume, worker crashes.

One synthetic cohort (44 good cases of 10x12x12 voxels + 8 bad rows) is written once per module and copied
into each test's folder; reference values come from single-process :func:`spinerad.extract`. The cluster
tests share one ``LocalCluster`` of 2 single-threaded worker processes; the tests that start their own
cluster run first, before it exists, so at most 2 worker processes run at once.
"""

import csv
import functools
import io
import json
import math
import os
import shutil
import signal
import uuid
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import spinerad
from spinerad import cohort, cohort_dask
from spinerad.cli import EXIT_DEVICE, EXIT_INVALID, main
from spinerad.errors import InvalidInput

N_GOOD = 44
FIELDNAMES = ["id", "image", "mask", "label", "site", "note"]


def _write(path, array, spacing=(1.0, 1.0, 1.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


def _random_case(rng, i):
    shape = (10, 12, 12)
    image = rng.normal(100 + 3 * i, 20 + i, shape)
    image = image.astype(np.float32) if i % 3 == 0 else image.astype(np.int16)
    mask = np.zeros(shape, np.uint8)
    z, y, x = rng.integers(0, 4, 3)
    mask[z : z + 5 + i % 3, y : y + 6, x : x + 7] = 1
    if i % 5 == 0:
        mask[8:10, 0:4, 8:12] = 2
    return image, mask


def _build_cohort(folder):
    """Write the cohort; return (csv path, expected outcome per row: ("ok", id) or ("error", cause))."""
    rng = np.random.default_rng(2024)
    (folder / "sub").mkdir()
    rows, expected = [], []
    for i in range(N_GOOD):
        image, mask = _random_case(rng, i)
        where = "sub/" if i % 7 == 3 else ""
        _write(folder / f"{where}img{i:02d}.nrrd", image)
        _write(folder / f"{where}mask{i:02d}.nrrd", mask)
        image_cell = f"{where}img{i:02d}.nrrd"
        if i == 4:  # an absolute path
            image_cell = str(folder / image_cell)
        label = "2" if i % 5 == 0 else ("1" if i % 4 == 1 else "")
        note = 'comma, and "quotes"' if i % 9 == 2 else f"n{i}"
        rows.append([f"case{i:02d}", image_cell, f"{where}mask{i:02d}.nrrd", label, f"site{i % 3}", note])
        expected.append(("ok", f"case{i:02d}"))
    _, good_mask = _random_case(rng, 1)
    _write(folder / "mask_spacing.nrrd", good_mask, spacing=(1.0, 1.0, 2.0))
    _write(folder / "mask_empty.nrrd", np.zeros_like(good_mask))
    (folder / "garbage.nrrd").write_text("not an image\n")
    bad = [
        (0, ["bad-missing", "nope.nrrd", "mask01.nrrd", "", "s", ""], "image not found: "),
        (6, ["bad-geometry", "img01.nrrd", "mask_spacing.nrrd", "", "s", ""], "mask spacing"),
        (13, ["bad-empty", "img01.nrrd", "mask_empty.nrrd", "", "s", ""], "the mask is empty"),
        (20, ["bad-label", "img02.nrrd", "mask02.nrrd", "3", "s", ""], "label 3 is not present"),
        (27, ["bad-unreadable", "garbage.nrrd", "mask02.nrrd", "", "s", ""], "cannot read image"),
        (34, ["bad-empty-path", "", "mask02.nrrd", "", "s", ""], "empty image path"),
        (41, ["bad-label-cell", "img02.nrrd", "mask02.nrrd", "two", "s", ""], "label 'two' is not an int"),
        (47, ["dup-case00", "img00.nrrd", "mask00.nrrd", "2", "s", "same inputs as case00"], None),
    ]
    for position, row, cause in bad:
        rows.insert(position, row)
        expected.insert(position, ("ok", "case00") if cause is None else ("error", cause))
    path = folder / "cohort.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDNAMES)
        writer.writerows(rows)
    return path, expected


def _csv_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Write the cohort once; compute single-process reference features per good case id."""
    folder = tmp_path_factory.mktemp("cohort-template")
    path, expected = _build_cohort(folder)
    reference = {}
    for row in _csv_rows(path):
        if row["id"].startswith("case"):
            label = int(row["label"]) if row["label"] else None
            reference[row["id"]] = spinerad.extract(folder / row["image"], folder / row["mask"], label=label)
    return folder, expected, reference


@pytest.fixture
def cohort_copy(template, tmp_path):
    """Copy the cohort for one test: (csv path, expected outcomes, reference features)."""
    folder, expected, reference = template
    copy = tmp_path / "cohort"
    shutil.copytree(folder, copy)
    # The absolute-path row points into the template; point it into the copy.
    text = (copy / "cohort.csv").read_text().replace(str(folder), str(copy))
    (copy / "cohort.csv").write_text(text)
    return copy / "cohort.csv", expected, reference


@pytest.fixture(scope="module")
def client():
    """Start a real local Dask cluster: LocalCluster(n_workers=2, threads_per_worker=1, processes=True)."""
    with cohort.dask_client(n_workers=2) as dask_client:
        yield dask_client


def _read_table(out):
    """(columns, rows) of an output table; feature cells as float or None."""
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        return table.column_names, table.to_pylist()
    rows = _csv_rows(out)
    with open(out, newline="") as handle:
        columns = next(csv.reader(handle))
    features = [c for c in columns if c.startswith("original_")]
    for row in rows:
        for name in features:
            row[name] = float(row[name]) if row[name] != "" else None
        row["error"] = row["error"] or None
    return columns, rows


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _check_table(out, cohort_csv, expected, reference):
    columns, rows = _read_table(out)
    feature_names = list(next(iter(reference.values())))
    assert columns == FIELDNAMES + feature_names + ["status", "error"]
    source = _csv_rows(cohort_csv)
    assert len(rows) == len(source) == len(expected)
    for row, cells, (outcome, detail) in zip(rows, source, expected, strict=True):
        assert {f: row[f] for f in FIELDNAMES} == cells  # carried through unchanged, in CSV order
        if outcome == "ok":
            assert (row["status"], row["error"]) == ("ok", None), row
            want = reference[detail]
            bad = {n: (row[n], want[n]) for n in feature_names if not _same(row[n], want[n])}
            assert not bad, f"{cells['id']}: {bad}"
        else:
            assert row["status"] == "error"
            assert detail in row["error"] and "\n" not in row["error"], row["error"]
            assert all(row[n] is None for n in feature_names)


# --- module-level case functions: the workers import them from this module --------------------------------


def counting_case(image, mask, label, label_channel, params, calls):
    """extract_case that leaves one file per call in ``calls`` (to see what a run recomputed)."""
    Path(calls, uuid.uuid4().hex).write_text(Path(image).name)
    return cohort.extract_case(image, mask, label, label_channel, params)


def crash_once(image, mask, label, label_channel, params, target, marker):
    """extract_case, except that the first computation of ``target`` kills its worker process."""
    if Path(image).name == target and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return cohort.extract_case(image, mask, label, label_channel, params)


def raising_case(image, mask, label, label_channel, params, target):
    """extract_case, except that ``target`` raises an unexpected multi-line exception."""
    if Path(image).name == target:
        raise RuntimeError("boom\nsecond line")
    return cohort.extract_case(image, mask, label, label_channel, params)


def threading_layer_after_extract(image, mask):
    """Run one extraction (parallel kernels included) and report the Numba threading layer used."""
    import numba

    spinerad.extract(image, mask)
    return numba.threading_layer()


def _counting(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir(exist_ok=True)
    for old in calls.iterdir():
        old.unlink()
    return functools.partial(counting_case, calls=str(calls)), calls


def _called(calls):
    return sorted(p.read_text() for p in calls.iterdir())


# --- no cluster -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, rows, message",
    [
        ("id,path,mask", ["a,x,y"], "needs 'image' and 'mask' columns; found: id, path, mask"),
        ("image,mask,status", ["x,y,z"], "column(s) status; spinerad writes those itself"),
        ("image,mask,Image", ["x,y,z"], "more than one 'image' column"),
        ("image,mask", [], "lists no cases"),
        ("image,mask", ["x,y,z"], "line 2 has 3 fields; the header has 2"),
    ],
)
def test_malformed_cohort_csv_is_invalid_input(tmp_path, header, rows, message):
    path = tmp_path / "c.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(InvalidInput) as info:
        cohort.read_cohort(path)
    assert message in str(info.value)


def test_cohort_csv_conventions(tmp_path):
    path = tmp_path / "c.csv"
    text = "\ufeffID,Image,Mask,Label,Label_channel\nx,a.nrrd,/abs/m.nrrd,8.0,\ny,a.nrrd,m.nrrd,,1\n\n"
    path.write_text(text, encoding="utf-8")  # with Excel's byte-order mark
    fieldnames, cases = cohort.read_cohort(path)
    assert fieldnames == ["ID", "Image", "Mask", "Label", "Label_channel"]
    assert [c.image for c in cases] == [str(tmp_path / "a.nrrd")] * 2
    assert [c.mask for c in cases] == ["/abs/m.nrrd", str(tmp_path / "m.nrrd")]
    assert [(c.label, c.label_channel, c.problem) for c in cases] == [(8, None, None), (None, 1, None)]


def test_content_digest_streams_files_and_dicom_folders(tmp_path):
    (tmp_path / "series").mkdir()
    for name, data in (("b.dcm", b"2" * 3000), ("a.dcm", b"1" * (3 << 20))):
        (tmp_path / "series" / name).write_bytes(data)
    first = cohort.content_digest(tmp_path / "series")
    assert cohort.content_digest(tmp_path / "series") == first
    (tmp_path / "series" / "b.dcm").write_bytes(b"2" * 2999 + b"3")
    assert cohort.content_digest(tmp_path / "series") != first
    with pytest.raises(InvalidInput, match="mask not found: .*nope"):
        cohort.content_digest(tmp_path / "nope", "mask")


def test_output_extension_and_cli_usage_errors(capsys, tmp_path):
    with pytest.raises(InvalidInput, match=r"must end in \.parquet or \.csv \(got '\.xlsx'\)"):
        cohort.output_format(tmp_path / "f.xlsx")
    (tmp_path / "c.csv").write_text("image,mask\na,b\n")
    cases = [
        (["--out", tmp_path / "f.xlsx"], "must end in .parquet or .csv"),
        (["--out", tmp_path / "f.csv", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers"),
        (["--out", tmp_path / "f.csv", "--params", tmp_path / "none.yaml"], "parameter file not found"),
    ]
    for extra, message in cases:
        code = main(["extract-cohort", str(tmp_path / "c.csv"), *map(str, extra)])
        err = capsys.readouterr().err
        assert code == EXIT_INVALID and message in err and len(err.strip().splitlines()) == 1, err
    code = main(["extract-cohort", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "f.csv")])
    err = capsys.readouterr().err
    assert code == EXIT_INVALID and "cohort CSV not found" in err


def test_unreachable_scheduler_exits_3(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cohort_dask, "CONNECT_TIMEOUT", "1s")
    (tmp_path / "c.csv").write_text("image,mask\na,b\n")
    code = main(
        [
            "extract-cohort",
            str(tmp_path / "c.csv"),
            "--out",
            str(tmp_path / "f.csv"),
            "--scheduler",
            "tcp://127.0.0.1:1",
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_DEVICE and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert len(err.strip().splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_lines_otherwise():
    terminal = _Terminal()
    bar = cohort.terminal_progress(terminal)(3)
    assert isinstance(bar, cohort.BarProgress)
    for status in ("ok", "error", "ok"):
        bar.update(status)
    bar.close()
    assert "3/3" in terminal.getvalue() and "failed=1" in terminal.getvalue()

    log = io.StringIO()
    lines = cohort.terminal_progress(log)(100)
    assert isinstance(lines, cohort.LineProgress)
    for i in range(100):
        lines.update("ok", skipped=i < 30)
    text = log.getvalue().splitlines()
    assert len(text) == 20  # one line per 5 % (no 10 s pause in between), the last one at 100/100
    assert text[-1].startswith("spinerad: cohort 100/100 cases (30 resumed, 0 failed), ")
    assert "cases/s" in text[-1] and "ETA 0:00:00" in text[-1]


# --- an own local cluster (before the shared one exists: at most 2 worker processes at once) -------------


def test_cli_on_a_local_cluster(capsys, cohort_copy, tmp_path):
    cohort_csv, expected, reference = cohort_copy
    lines = cohort_csv.read_text().splitlines(keepends=True)
    cohort_csv.write_text("".join(lines[:13]))  # 12 cases (one of them bad) keep this cluster's test short
    expected = expected[:12]
    out = tmp_path / "features.csv"
    code = main(["extract-cohort", str(cohort_csv), "--out", str(out), "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    n_errors = sum(outcome == "error" for outcome, _ in expected)
    assert summary == {
        "out": str(out),
        "cases": len(expected),
        "ok": len(expected) - n_errors,
        "errors": n_errors,
        "computed": len(expected),
        "skipped": 0,
    }
    assert f"spinerad: cohort {len(expected)}/{len(expected)} cases" in captured.err  # not a terminal: lines
    _check_table(out, cohort_csv, expected, reference)


# --- the shared 2-worker cluster --------------------------------------------------------------------------


def test_workers_run_kernels_on_the_selected_threading_layer(client, template):
    import numba

    infos = client.run(cohort.worker_info)
    assert len(infos) == 2
    for info in infos.values():
        assert info["spinerad"] == spinerad.__version__
        assert info["numba_threads"] == max(1, cohort.machine_cores() // 2)  # kernels share the cores
        assert info["threading_layer"] == numba.config.THREADING_LAYER
    folder, _, _ = template
    image, mask = str(folder / "img01.nrrd"), str(folder / "mask01.nrrd")
    layer = client.submit(threading_layer_after_extract, image, mask)
    if numba.config.THREADING_LAYER == "tbb":
        assert layer.result() == "tbb"
    else:
        assert layer.result() in ("tbb", "omp", "workqueue")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cohort_matches_single_process_extraction(client, cohort_copy, tmp_path, suffix):
    cohort_csv, expected, reference = cohort_copy
    out = tmp_path / f"features{suffix}"
    summary = cohort.extract_cohort(cohort_csv, out, client=client)
    n_errors = sum(outcome == "error" for outcome, _ in expected)
    assert (summary.cases, summary.ok, summary.errors) == (len(expected), len(expected) - n_errors, n_errors)
    assert (summary.computed, summary.skipped) == (len(expected), 0)
    _check_table(out, cohort_csv, expected, reference)
    _, rows = _read_table(out)
    assert rows[0]["error"] == f"image not found: {cohort_csv.parent / 'nope.nrrd'}"  # names the missing file
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        metadata = pq.read_schema(out).metadata
        assert metadata[b"spinerad_settings_hash"].decode() == spinerad.load_params(None).settings_hash()
    # One part per distinct finished key: 44 good cases (the duplicate row shares case00's) + 4 input errors
    # with a key (geometry, empty mask, absent label, unreadable); the missing file and bad cells have none.
    assert len(list(cohort.parts_folder(out).glob("*.json"))) == N_GOOD + 4


def test_resume_recomputes_only_changed_or_missing_cases(client, cohort_copy, tmp_path):
    cohort_csv, expected, reference = cohort_copy
    folder = cohort_csv.parent
    out = tmp_path / "features.parquet"
    count, calls = _counting(tmp_path)
    cohort.extract_cohort(cohort_csv, out, client=client, case_function=count)
    assert len(_called(calls)) == N_GOOD + 4  # the duplicate row is computed once
    parts = cohort.parts_folder(out)
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.json")}

    # Lose two parts, truncate one (a torn write is recomputed), leave a stale temp file, change one image.
    keys = {
        name: cohort.case_key(
            folder / f"img{i:02d}.nrrd",
            folder / f"mask{i:02d}.nrrd",
            1,
            0,
            spinerad.load_params(None).settings_hash(),
        )
        + ".json"
        for i, name in ((1, "img01"), (2, "img02"), (6, "img06"), (8, "img08"))
    }
    (parts / keys["img01"]).unlink()
    (parts / keys["img02"]).unlink()
    (parts / keys["img06"]).write_text('{"key": "trunc')
    (parts / ".deadbeef-x.tmp").write_text("{")
    image, _ = _random_case(np.random.default_rng(99), 8)
    _write(folder / "img08.nrrd", image.astype(np.int16))
    count, calls = _counting(tmp_path)
    summary = cohort.extract_cohort(cohort_csv, out, client=client, case_function=count)

    # img02 also serves the absent-label row (label 3: its own key, still cached).
    assert _called(calls) == ["img01.nrrd", "img02.nrrd", "img06.nrrd", "img08.nrrd"]
    uncached = 3  # missing file, empty path, bad label cell: no key, checked again on every run
    assert (summary.computed, summary.skipped) == (4 + uncached, len(expected) - 4 - uncached)
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.json")}
    untouched = set(before) - {keys["img01"], keys["img02"], keys["img06"]}
    assert all(after[name] == before[name] for name in untouched)  # the old img08 part stays, unused
    assert len(after) == len(before) + 1
    reference = dict(reference, case08=spinerad.extract(folder / "img08.nrrd", folder / "mask08.nrrd"))
    _check_table(out, cohort_csv, expected, reference)

    # Other settings: every key changes, every case is computed again.
    count, calls = _counting(tmp_path)
    params = {"setting": {"binWidth": 10}}
    summary = cohort.extract_cohort(cohort_csv, out, params, client=client, case_function=count)
    assert (summary.computed, summary.skipped) == (len(expected), 0)
    assert len(_called(calls)) == N_GOOD + 4
    _, rows = _read_table(out)
    first = next(r for r in rows if r["id"] == "case03")
    assert (
        first["original_glcm_Contrast"]
        == spinerad.extract(folder / "sub" / "img03.nrrd", folder / "sub" / "mask03.nrrd", params=params)[
            "original_glcm_Contrast"
        ]
    )


def test_interrupted_run_resumes_where_it_stopped(client, cohort_copy, tmp_path):
    cohort_csv, expected, reference = cohort_copy
    out = tmp_path / "features.csv"
    lines = cohort_csv.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    first_half = cohort_csv.with_name("first_half.csv")
    first_half.write_text("".join(lines[: half + 1]))  # header + the first half: a run that was killed there
    count, calls = _counting(tmp_path)
    cohort.extract_cohort(first_half, out, client=client, case_function=count)
    done_first = _called(calls)

    count, calls = _counting(tmp_path)
    summary = cohort.extract_cohort(cohort_csv, out, client=client, case_function=count)
    done_second = _called(calls)
    assert not set(done_first) & set(done_second)  # nothing finished in the first run is computed again
    assert len(done_first) + len(done_second) == N_GOOD + 4
    assert summary.skipped > 0 and summary.computed + summary.skipped == len(expected)
    _check_table(out, cohort_csv, expected, reference)


def test_unexpected_exception_is_a_one_line_error_row_and_not_cached(client, cohort_copy, tmp_path):
    cohort_csv, expected, reference = cohort_copy
    out = tmp_path / "features.csv"
    raising = functools.partial(raising_case, target="img05.nrrd")
    cohort.extract_cohort(cohort_csv, out, client=client, case_function=raising)
    _, rows = _read_table(out)
    row = next(r for r in rows if r["id"] == "case05")
    assert (row["status"], row["error"]) == ("error", "RuntimeError: boom second line")

    count, calls = _counting(tmp_path)
    cohort.extract_cohort(cohort_csv, out, client=client, case_function=count)
    assert _called(calls) == ["img05.nrrd"]
    _check_table(out, cohort_csv, expected, reference)


def test_killed_worker_is_retried_and_the_case_is_not_lost(client, cohort_copy, tmp_path):
    cohort_csv, expected, reference = cohort_copy
    out = tmp_path / "features.parquet"
    marker = tmp_path / "crashed"
    crashing = functools.partial(crash_once, target="img07.nrrd", marker=str(marker))
    summary = cohort.extract_cohort(cohort_csv, out, client=client, case_function=crashing)
    assert marker.exists()  # a worker process really died on case07
    assert int(marker.read_text()) not in client.run(os.getpid).values()
    assert summary.computed == len(expected)
    _check_table(out, cohort_csv, expected, reference)
