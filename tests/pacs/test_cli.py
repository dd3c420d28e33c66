"""Command-line errors of the PACS options: one line, exit 2, no traceback (no PACS needed)."""

import pytest

from spinerad.cli import main
from spinerad.pacs.dicomweb import Endpoints, Reference, UnknownEndpoint
from spinerad.pacs.store import StoreTarget, backoff_seconds


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--store-to", "PACS-no-address"], "--store-to expects AE@HOST:PORT"),
        (["--store-to", "PACS@host:99999"], "--store-to: port must be 1..65535"),
        (["--store-to", "A_TITLE_LONGER_THAN_16@host:104"], "an AE title is 1 to 16 printable ASCII"),
        (["--store-to", "PACS@host:104", "--allow-ae", "BAD\\AE"], "--allow-ae: an AE title is 1 to 16"),
    ],
)
def test_dicom_node_bad_options(argv, message, tmp_path, capsys):
    assert main(["dicom-node", "--spool", str(tmp_path / "spool"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dicomweb", "pacs"], "--dicomweb NAME and --study UID go together"),
        (["image.nrrd", "mask.nrrd", "--dicomweb", "pacs", "--study", "1.2"], "not both"),
        (["image.nrrd", "mask.nrrd", "--store-results"], "--seg and --store-results go with --dicomweb"),
        ([], "give IMAGE MASK, or --dicomweb NAME --study UID"),
    ],
)
def test_analyze_reference_usage_errors(argv, message, capsys):
    assert main(["analyze", "--server", "127.0.0.1:1", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_serve_refuses_credentials_in_the_url_and_unknown_names(tmp_path):
    from spinerad.errors import SettingsError

    with pytest.raises(SettingsError, match="not in the URL"):
        Endpoints.parse(["pacs=https://user:secret@pacs.example/dicom-web"])
    with pytest.raises(SettingsError, match="NAME=URL"):
        Endpoints.parse(["https://pacs.example/dicom-web"])
    credentials = tmp_path / "credentials.json"
    credentials.write_text('{"other": {"token": "t"}}')
    with pytest.raises(SettingsError, match="names endpoints not configured: other"):
        Endpoints.parse(["pacs=https://pacs.example/dicom-web"], credentials)


def test_credentials_from_file_and_environment(tmp_path):
    credentials = tmp_path / "credentials.json"
    credentials.write_text('{"pacs": {"username": "ai", "password": "pw"}}')
    endpoints = Endpoints.parse(
        ["pacs=https://pacs.example/dicom-web/", "vna=http://vna.example:8080/wado"],
        credentials,
        environ={"SPINERAD_DICOMWEB_VNA_TOKEN": "secret-token"},
    )
    pacs, vna = endpoints.get("pacs"), endpoints.get("vna")
    assert (pacs.url, pacs.username, pacs.password, pacs.token) == (
        "https://pacs.example/dicom-web",
        "ai",
        "pw",
        None,
    )
    assert vna.token == "secret-token" and vna.username is None
    with pytest.raises(UnknownEndpoint, match="configured: pacs, vna"):
        endpoints.get("http://attacker.example/")


def test_reference_uids_must_be_uids():
    from spinerad.errors import InvalidInput

    Reference("pacs", "1.2.840.1", "1.2.3", "").check()
    with pytest.raises(InvalidInput, match="StudyInstanceUID must be a DICOM UID"):
        Reference("pacs", "../../etc/passwd").check()
    with pytest.raises(InvalidInput, match="SeriesInstanceUID must be a DICOM UID"):
        Reference("pacs", "1.2", "1.2/../x").check()


def test_store_target_and_backoff():
    assert str(StoreTarget.parse("PACS@10.0.0.5:104")) == "PACS@10.0.0.5:104"
    assert StoreTarget.parse("PACS@[::1]:104").host == "::1"
    assert [backoff_seconds(n, 1.0, 10.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
