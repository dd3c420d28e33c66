"""Reassembly of chunked uploads with bounded memory: each part's chunks are copied into one buffer.

A part's buffer is allocated once, at the declared ``total_bytes`` (checked against the limits before the
first chunk), when its first chunk arrives; every chunk is copied straight to its offset. No growth by
reallocation (which copied the received bytes again at every doubling and left up to half the buffer as
slack), no join at the end: the decoder reads the buffer in place. Memory is the declared size of the
parts being received, exactly what admission allowed; a large allocation is its own ``mmap`` (see
:func:`spinerad.service.memory.tune_allocator`), so the kernel only backs the pages actually written.
Chunks must arrive in order (``offset`` = bytes of that part received so far) and stay within the
declared size; anything else is a :class:`~spinerad.service.errors.ProtocolError`. Plain
Python: no gRPC here.
"""

from dataclasses import dataclass

import numpy as np

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
        self._buffer = None

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
        if self._buffer is None:
            # numpy's empty leaves the pages untouched (bytearray(n) would zero them all at once)
            self._buffer = memoryview(np.empty(self.total_bytes, dtype=np.uint8))
        self._buffer[offset:end] = data
        self.received = end

    def payload(self):
        """The bytes received so far (a read-only view of the buffer, no copy)."""
        if self._buffer is None:
            return memoryview(b"")
        return self._buffer[: self.received].toreadonly()

    def release(self):
        """Drop the buffer (the study is done or abandoned)."""
        self._buffer = None


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
