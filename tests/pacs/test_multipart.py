"""The WADO-RS multipart splitter of the reference mode (its real use runs in test_reference.py)."""

import pytest

from spinerad.pacs.dicomweb import EndpointError, split_multipart

TYPE = 'multipart/related; type="application/dicom"; boundary="b-42"'


def _body(parts, preamble=b""):
    out = preamble
    for part in parts:
        out += b"--b-42\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n"
    return out + b"--b-42--\r\n"


def test_parts_come_back_byte_for_byte():
    """Parts holding CRLFs, dashes and boundary-like text come back unchanged, with or without a preamble."""
    parts = [b"\x00" * 128 + b"DICM\r\n\r\n--b-4", b"", b"x--b-42y" * 3]
    assert [bytes(p) for p in split_multipart(TYPE, _body(parts))] == parts
    assert [bytes(p) for p in split_multipart(TYPE, _body(parts, b"a preamble\r\n"))] == parts


def test_a_plain_application_dicom_answer_is_one_part():
    """A server answering one instance without multipart (seen in the wild): the body is the part."""
    assert [bytes(p) for p in split_multipart("application/dicom", b"DICM")] == [b"DICM"]
    assert split_multipart("application/dicom", b"") == []


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/related", _body([b"a"]), "without a boundary"),
        (TYPE, _body([b"a"])[:-12], "truncated"),
    ],
)
def test_broken_bodies_are_endpoint_errors(content_type, body, message):
    """No boundary, or a body cut before its closing delimiter: one clear error."""
    with pytest.raises(EndpointError, match=message):
        split_multipart(content_type, body)
