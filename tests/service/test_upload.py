"""Chunk reassembly: in order, within the declared size, into one buffer per part."""

import pytest

from spinerad.service.errors import ProtocolError
from spinerad.service.upload import IMAGE, MASK, Chunk, PartBuffer, StudyUpload


def test_reassembles_in_order():
    upload = StudyUpload(6, 2)
    assert not upload.add(Chunk(IMAGE, 0, b"abc"))
    assert not upload.add(Chunk(MASK, 0, b"x"))
    assert not upload.add(Chunk(IMAGE, 3, b"def"))
    assert upload.add(Chunk(MASK, 1, b"y"))
    assert bytes(upload.parts[IMAGE].payload()) == b"abcdef"
    assert bytes(upload.parts[MASK].payload()) == b"xy"


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([(IMAGE, 3, b"abc")], "image chunk out of order: offset 3, but 0 bytes"),
        ([(IMAGE, 0, b"abc"), (IMAGE, 0, b"abc")], "out of order: offset 0, but 3 bytes"),
        ([(IMAGE, 0, b"abcdefg")], "image chunk [0, 7) goes beyond the declared total_bytes 6"),
        ([(MASK, 0, b"xyz")], "mask chunk [0, 3) goes beyond the declared total_bytes 2"),
        ([(None, 0, b"a")], "chunk without a part"),
        ([(IMAGE, 0, b"")], "empty image chunk"),
        (
            [(IMAGE, 0, b"abcdef"), (MASK, 0, b"xy"), (MASK, 2, b"z")],
            "after the study's image and mask were complete",
        ),
    ],
)
def test_bad_chunks_are_protocol_errors(chunks, message):
    upload = StudyUpload(6, 2)
    with pytest.raises(ProtocolError, match=None) as info:
        for part, offset, data in chunks:
            upload.add(Chunk(part, offset, data))
    assert message in str(info.value)


def test_buffer_grows_with_the_bytes_received_only():
    part = PartBuffer("image", 1 << 30)  # a large declaration costs nothing until bytes arrive
    part.write(0, b"12345")
    assert part.payload().nbytes == 5 and not part.complete
    part.release()
    assert part.payload().nbytes == 0
