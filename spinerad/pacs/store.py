"""C-STORE of result objects to the PACS node named by ``--store-to AE@HOST:PORT`` (pynetdicom), with backoff.

One association per batch (a study's results); a batch is stored only when every object was accepted
(status 0x0000, or a warning 0xB000-0xB007). A failure raises :class:`StoreFailed`; the caller keeps the
results in the spool and tries again after :func:`backoff_seconds`.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import SettingsError, SpineradError

log = logging.getLogger("spinerad.pacs")

#: Backoff between store attempts: base * 2**attempt, at most this many seconds.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 300.0


class StoreFailed(SpineradError):
    """The PACS did not take the results (unreachable, association refused, failure status)."""


def backoff_seconds(attempt, base=BACKOFF_BASE_S, ceiling=BACKOFF_MAX_S):
    """Seconds to wait before store attempt ``attempt + 1`` (attempt counts from 0)."""
    return min(base * (2 ** min(attempt, 30)), ceiling)


@dataclass(frozen=True)
class StoreTarget:
    """A DICOM node to C-STORE to."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text):
        """``AE@HOST:PORT`` -> StoreTarget; a malformed value is a :class:`SettingsError`."""
        ae, sep, address = str(text).partition("@")
        host, colon, port = address.rpartition(":")
        if not sep or not colon or not ae or not host:
            raise SettingsError(f"--store-to expects AE@HOST:PORT, got {text!r}")
        check_ae_title(ae, "--store-to")
        try:
            number = int(port)
        except ValueError:
            number = -1
        if not 0 < number < 65536:
            raise SettingsError(f"--store-to: port must be 1..65535, got {port!r}")
        return cls(ae, host.strip("[]"), number)

    def __str__(self):
        return f"{self.ae_title}@{self.host}:{self.port}"


def check_ae_title(title, option):
    """An AE title is 1-16 characters of printable ASCII, no backslash, not only spaces."""
    if (
        not 0 < len(title) <= 16
        or not all(32 <= ord(c) < 127 and c != "\\" for c in title)
        or not title.strip()
    ):
        raise SettingsError(f"{option}: an AE title is 1 to 16 printable ASCII characters, got {title!r}")
    return title


def store_files(target, paths, calling_ae, timeout=30.0):
    """C-STORE ``paths`` to ``target`` on one association; :class:`StoreFailed` unless all were taken."""
    import pydicom
    from pynetdicom import AE, _config
    from pynetdicom.sop_class import uid_to_sop_class  # noqa: F401 - ensures the SOP class table is loaded

    # Send each file's bytes as they are on disk (pynetdicom reads only its file meta): a result file is
    # not parsed and encoded again for every store attempt (~0.1-0.2 s for an SR of ~110 measurements).
    _config.STORE_SEND_CHUNKED_DATASET = True
    datasets = [pydicom.dcmread(str(p), specific_tags=["SOPClassUID"]) for p in paths]
    if not datasets:
        return
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    contexts = {}
    for ds in datasets:
        contexts.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    for sop_class, syntaxes in contexts.items():
        ae.add_requested_context(sop_class, sorted(syntaxes | {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}))
    try:
        assoc = ae.associate(target.host, target.port, ae_title=target.ae_title)
    except Exception as exc:  # noqa: BLE001 - socket errors surface in several forms
        raise StoreFailed(f"cannot reach {target}: {exc}") from None
    if not assoc.is_established:
        reason = "association rejected" if assoc.is_rejected else "association aborted or not answered"
        raise StoreFailed(f"{target}: {reason}")
    try:
        for path in paths:
            try:
                status = assoc.send_c_store(Path(path))
            except ValueError:  # no context for the file's own transfer syntax: let pynetdicom convert
                status = assoc.send_c_store(pydicom.dcmread(str(path)))
            code = getattr(status, "Status", None)
            if code is None:
                raise StoreFailed(
                    f"{target}: no answer to the C-STORE of {Path(path).name} (connection lost)"
                )
            if code != 0x0000 and not 0xB000 <= code <= 0xB007:
                raise StoreFailed(f"{target}: C-STORE of {Path(path).name} failed with status 0x{code:04X}")
    finally:
        if assoc.is_established:
            assoc.release()
