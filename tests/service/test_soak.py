"""The bounded soak (bench/soak.py) in its short form: mixed good and bad studies against a real server."""

from bench.soak import BAD_KINDS, run


def test_short_soak_mixed_studies_counts_agree():
    lines = []
    intervals, summary = run(duration=20, clients=4, interval=5, workers=2, log=lines.append)
    print("\n".join(lines))
    print(summary)
    assert summary["valid_failed"] == 0, summary["valid_failed_codes"]
    assert summary["bad_with_wrong_status"] == 0
    assert summary["counts_mismatched"] == {}  # the server's histogram agrees with the clients, by code
    assert summary["client_errors"] == [] and summary["server_exit_code"] == 0
    assert summary["valid_ok"] > 0 and summary["client_counts"].get("INVALID_ARGUMENT", 0) > 0
    assert len(BAD_KINDS) == 6 and len(intervals) == 4
    first, last = intervals[0], intervals[-1]
    assert last["fds"] <= first["fds"] + 4 and last["threads"] <= first["threads"] + 4  # nothing leaks
