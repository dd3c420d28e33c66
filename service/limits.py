"""Limits of the service: one message, one study's upload (size and time), one volume's voxels, one series."""

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one request may declare; a declaration beyond a limit is rejected before any byte is stored.

    Together with the admission queue (at most ``workers + queue_size`` studies held at once) these bound
    the server's memory: each admitted study holds at most ``max_upload_bytes`` of payload.
    """

    #: Largest gRPC message (one chunk plus framing) the server receives.
    max_message_bytes: int = 8 * MiB
    #: Largest upload of one study: image and mask bytes together, as declared in the header.
    max_upload_bytes: int = 1024 * MiB
    #: Most voxels one image or mask may have (512 x 512 x 1024 by default).
    max_voxels: int = 512 * 512 * 1024
    #: Most instance files of one DICOM series.
    max_dicom_instances: int = 4096
    #: Seconds an admitted study's upload may go without a message before the call is cut
    #: (DEADLINE_EXCEEDED): a client that sends a header and then nothing cannot hold its place.
    upload_idle_timeout_s: float = 15.0
    #: Seconds from a study's header to its last chunk: a client trickling bytes cannot hold its place
    #: either. 1 GiB (the largest upload) at 300 s needs 3.6 MB/s.
    upload_timeout_s: float = 300.0


#: The limits of a server started without options.
DEFAULT_LIMITS = Limits()
