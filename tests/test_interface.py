"""One interface (issue 9): list spellings, --help defaults and profiles, models list/show, serve binding."""

import argparse
import json

import pytest

from spinerad.cli import EXIT_INVALID, _normalise_lists, _split_list, build_parser, main
from spinerad.profiles import PARAMS_DIR, resolve, shipped_profiles
from spinerad.service.commands import exposure_warning, is_loopback


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_every_help_shows_every_default():
    """Each option with a default says it in --help (the formatter adds "(default: X)" where missing)."""
    checked = 0
    for name, sub in _subparsers(build_parser()):
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            default = action.default
            no_default = default is None or default is False or default == ()
            if not action.option_strings or action.help == argparse.SUPPRESS or no_default:
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            flag = action.option_strings[-1]
            entry = text[text.index(flag, text.index("options:")) :]
            entry = entry[: min([i for i in (entry.find(" --", 2),) if i > 0] or [len(entry)])]
            assert "default" in entry, f"spinerad {name} {flag}: default {default!r} not in --help: {entry}"
            checked += 1
    assert checked >= 20


def test_help_lists_the_shipped_profiles(capsys):
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert len(shipped_profiles()) >= 5
    for name in shipped_profiles():
        assert name in text


def test_params_takes_a_shipped_profile_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("ibsi_ct_config_a") == str(PARAMS_DIR / "ibsi_ct_config_a.yaml")
    assert resolve("ibsi_ct_config_a.yaml") == str(PARAMS_DIR / "ibsi_ct_config_a.yaml")
    (tmp_path / "ibsi_ct_config_a.yaml").write_text("setting: {}\n")
    assert resolve("ibsi_ct_config_a.yaml") == "ibsi_ct_config_a.yaml"  # an existing file wins
    assert resolve("elsewhere/nope.yaml") == "elsewhere/nope.yaml"  # left for load_params' clear error
    assert resolve(None) is None


@pytest.mark.parametrize("command", ["predict", "analyze"])
@pytest.mark.parametrize(
    "spelling",
    [
        ["--tasks", "egfr_mutation", "ki67_high", "--clinical", "age=61", "sex=F"],
        ["--tasks", "egfr_mutation,ki67_high", "--clinical", "age=61,sex=F"],
        ["--tasks", "egfr_mutation", "--tasks", "ki67_high", "--clinical", "age=61", "--clinical", "sex=F"],
        ["--tasks", "egfr_mutation,", "ki67_high", "--clinical", "age=61,", "sex=F"],
    ],
)
def test_tasks_and_clinical_take_both_spellings(command, spelling):
    extra = ["--server", "localhost:1"] if command == "analyze" else []
    args = build_parser().parse_args([command, "image.nrrd", "mask.nrrd", *extra, *spelling])
    _normalise_lists(args)
    assert args.tasks == ["egfr_mutation", "ki67_high"]
    assert args.clinical == ["age=61", "sex=F"]


def test_clinical_value_with_a_comma_stays_whole():
    assert _split_list(["site=T1,T2,age=3"], pairs=True) == ["site=T1,T2", "age=3"]


def test_predict_with_space_separated_tasks(capsys, tmp_path):
    assert main(["sample", str(tmp_path)]) == 0
    capsys.readouterr()
    image, mask = str(tmp_path / "image.nrrd"), str(tmp_path / "mask.nrrd")
    code = main(["predict", image, mask, "--tasks", "ki67_high", "egfr_mutation"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [p["task"] for p in json.loads(out)["predictions"]] == ["ki67_high", "egfr_mutation"]


def test_models_list_and_show_local(capsys):
    assert main(["models", "list"]) == 0
    listing = json.loads(capsys.readouterr().out)
    tasks = [m["task"] for m in listing["models"]]
    assert len(tasks) == 7 and "egfr_mutation" in tasks
    for model in listing["models"]:
        assert model["trained_on"] and model["model_id"] and 0 < model["threshold"] < 1
    assert main(["models", "show", "ki67_high"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["task"] == "ki67_high" and card["features"]
    assert card["model_id"] == next(m["model_id"] for m in listing["models"] if m["task"] == "ki67_high")


def test_models_show_unknown_task_is_one_line(capsys):
    assert main(["models", "show", "nope"]) == EXIT_INVALID
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no model for task 'nope'" in err


def test_serve_binds_loopback_by_default():
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    from spinerad.service.server import ServiceConfig

    assert ServiceConfig().host == "127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)
    assert exposure_warning(host, tls=False, token=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "radiomics.hospital.local"])
def test_beyond_loopback_without_tls_or_token_warns(host):
    assert not is_loopback(host)
    assert "without TLS or a token" in exposure_warning(host, tls=False, token=False)
    assert "without a token" in exposure_warning(host, tls=True, token=False)
    assert "without TLS:" in exposure_warning(host, tls=False, token=True)
    assert exposure_warning(host, tls=True, token=True) is None


def test_cuda_help_names_the_cpu_families(capsys):
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "GLCM and GLRLM on the GPU; shape, firstorder, GLSZM, GLDM and NGTDM on the CPU" in text


def test_models_list_under_an_ascii_locale():
    """Cards hold non-ASCII text ("—"): read as UTF-8 and printed as JSON whatever the locale's encoding.

    (The full test run once switched its process to an ASCII encoding and every card read failed.)
    """
    import os
    import subprocess
    import sys

    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "spinerad", "models", "list"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["models"]) == 7
