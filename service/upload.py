"""Reassembly of chunked uploads with bounded memory: each part's chunks are appended to one buffer.

A part's buffer grows with the bytes actually received (a client that declares a large volume and sends
little costs little) and never beyond the declared ``total_bytes``, which was checked against the limits
before the first chunk. Chunks must arrive in order (``offset`` = bytes of that part received so far) and
stay within the declared size; anything else is a :class:`~spinerad.service.errors.ProtocolError`. Plain
Python: no gRPC here.
"""

from dataclasses import dataclass

from .errors import ProtocolError

IMAGE, MASK = "image", "mask"


@dataclass
class Chunk:
    """One slice of an upload: ``part`` is "image" or "mask" (None when the client did not say)."""

    part: object
    offset: int
    data: bytes


class PartBuffer:
    """The bytes of one part (image or mask), written chunk by chunk in order."""

    def __init__(self, name, total_bytes):
        self.name = name
        self.total_bytes = total_bytes
        self.received = 0
        self._buffer = bytearray()

    @property
    def complete(self):
        """Whether every declared byte arrived."""
        return self.received == self.total_bytes

    def write(self, offset, data):
        """Append one chunk at ``offset``; raise :class:`ProtocolError` if it is out of order or too long."""
        if offset != self.received:
            raise ProtocolError(
                f"{self.name} chunk out of order: offset {offset}, but {self.received} bytes were received "
                "before it"
            )
        if not data:
            raise ProtocolError(f"empty {self.name} chunk at offset {offset}")
        end = offset + len(data)
        if end > self.total_bytes:
            raise ProtocolError(
                f"{self.name} chunk [{offset}, {end}) goes beyond the declared total_bytes {self.total_bytes}"
            )
        self._buffer += data  # amortised growth; large buffers grow in place (mremap)
        self.received = end

    def payload(self):
        """The reassembled bytes (a read-only view; only once complete)."""
        return memoryview(self._buffer).toreadonly()

    def release(self):
        """Drop the buffer (the study is done or abandoned)."""
        self._buffer = bytearray()


class StudyUpload:
    """The image and mask buffers of one study, filled from its chunks."""

    def __init__(self, image_bytes, mask_bytes):
        self.parts = {IMAGE: PartBuffer(IMAGE, image_bytes), MASK: PartBuffer(MASK, mask_bytes)}

    @property
    def complete(self):
        """Whether the image and the mask are complete."""
        return all(p.complete for p in self.parts.values())

    def add(self, chunk):
        """Store one chunk; return True when it completed the study."""
        if chunk.part not in self.parts:
            raise ProtocolError("chunk without a part: set part to PART_IMAGE or PART_MASK")
        if self.complete:
            raise ProtocolError("chunk after the study's image and mask were complete; send a header first")
        self.parts[chunk.part].write(chunk.offset, chunk.data)
        return self.complete

    def progress(self):
        """A short text of bytes received per part, for error messages."""
        return ", ".join(f"{p.name} {p.received}/{p.total_bytes} bytes" for p in self.parts.values())

    def release(self):
        """Drop both buffers."""
        for part in self.parts.values():
            part.release()
