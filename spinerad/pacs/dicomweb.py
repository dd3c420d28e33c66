"""DICOMweb: fetch a referenced study with QIDO/WADO-RS and store results with STOW-RS (dicomweb-client).

The server talks only to endpoints named in its own configuration (``spinerad serve --dicomweb NAME=URL``);
a client names an endpoint, never a URL, so no request can make the server fetch from an address of the
client's choosing (no server-side request forgery). Credentials come from a file
(``--dicomweb-credentials FILE``: JSON ``{"NAME": {"username": ..., "password": ...}}`` or
``{"NAME": {"token": ...}}``) or the environment (``SPINERAD_DICOMWEB_<NAME>_TOKEN``, or
``SPINERAD_DICOMWEB_<NAME>_USERNAME`` + ``..._PASSWORD``; NAME upper-cased, ``-`` as ``_``), never from
the command line.

A reference names a study, and optionally its image series and the SEG/RTSTRUCT instance. What the endpoint
does not hold is a :class:`ReferenceNotFound` (gRPC NOT_FOUND) naming which UID is missing.
"""

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..errors import InvalidInput, SettingsError, SpineradError
from .analysis import RTSTRUCT_SOP_CLASS, SEG_SOP_CLASSES

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Frame/instance media types for WADO-RS retrieval (any transfer syntax the server has).
MEDIA_TYPES = (("application/dicom", "*"),)


class ReferenceNotFound(SpineradError):
    """The endpoint does not hold the referenced study, series or instance. gRPC: NOT_FOUND."""


class UnknownEndpoint(InvalidInput):
    """A reference names an endpoint this server is not configured with. gRPC: INVALID_ARGUMENT."""


class EndpointError(SpineradError):
    """The endpoint failed (unreachable, HTTP error other than 404). gRPC: UNAVAILABLE."""


@dataclass(frozen=True)
class Reference:
    """A study held by a configured DICOMweb endpoint."""

    endpoint: str
    study_uid: str
    series_uid: str = ""
    roi_uid: str = ""

    def check(self):
        """UIDs must look like UIDs (they go into URLs)."""
        for what, uid, required in (
            ("StudyInstanceUID", self.study_uid, True),
            ("SeriesInstanceUID", self.series_uid, False),
            ("SEG/RTSTRUCT SOPInstanceUID", self.roi_uid, False),
        ):
            if (uid or required) and (len(uid) > 64 or not _UID.match(uid or "")):
                raise InvalidInput(
                    f"reference: {what} must be a DICOM UID (digits and dots, at most 64), got {uid[:70]!r}"
                )


@dataclass(frozen=True)
class Endpoint:
    """A configured DICOMweb service."""

    name: str
    url: str
    username: str = None
    password: str = None
    token: str = None

    #: One client (and its HTTP connection pool) per thread, reused across studies: a new
    #: ``requests.Session`` per study cost a TCP connection per request.
    _clients: threading.local = field(default_factory=threading.local, compare=False, repr=False)

    def client(self):
        """Return this thread's ``DICOMwebClient`` for the endpoint, with its credentials (made once)."""
        client = getattr(self._clients, "client", None)
        if client is None:
            from dicomweb_client.api import DICOMwebClient

            client = self._clients.client = DICOMwebClient(self.url, session=self.session())
        return client

    def session(self):
        """Return this thread's ``requests.Session`` with the endpoint's credentials (the client's)."""
        session = getattr(self._clients, "session", None)
        if session is None:
            import requests

            session = self._clients.session = requests.Session()
            if self.token:
                session.headers["Authorization"] = f"Bearer {self.token}"
            elif self.username:
                session.auth = (self.username, self.password or "")
        return session


class Endpoints:
    """The DICOMweb endpoints a server may use, by name."""

    def __init__(self, endpoints=()):
        self._by_name = {e.name: e for e in endpoints}

    @classmethod
    def parse(cls, specs, credentials_file=None, environ=None):
        """From ``NAME=URL`` strings, a credentials file and the environment; bad values: SettingsError."""
        environ = os.environ if environ is None else environ
        credentials = {}
        if credentials_file:
            try:
                credentials = json.loads(Path(credentials_file).read_text())
            except OSError as exc:
                raise SettingsError(
                    f"cannot read --dicomweb-credentials {credentials_file}: {exc.strerror}"
                ) from None
            except ValueError:
                raise SettingsError(
                    f"--dicomweb-credentials {credentials_file} is not a JSON object"
                ) from None
            if not isinstance(credentials, dict):
                raise SettingsError(f"--dicomweb-credentials {credentials_file} is not a JSON object")
        endpoints = []
        for spec in specs or ():
            name, sep, url = str(spec).partition("=")
            if not sep or not _NAME.match(name):
                raise SettingsError(f"--dicomweb expects NAME=URL (NAME: letters, digits, _.-), got {spec!r}")
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise SettingsError(
                    f"--dicomweb {name}: the URL must be http(s)://HOST[:PORT]/PATH, got {url!r}"
                )
            if parsed.username or parsed.password:
                raise SettingsError(
                    f"--dicomweb {name}: put credentials in --dicomweb-credentials, not in the URL"
                )
            if any(e.name == name for e in endpoints):
                raise SettingsError(f"--dicomweb {name} is given twice")
            given = credentials.get(name) or {}
            env_key = "SPINERAD_DICOMWEB_" + name.upper().replace("-", "_").replace(".", "_")
            endpoints.append(
                Endpoint(
                    name,
                    url.rstrip("/"),
                    username=given.get("username") or environ.get(env_key + "_USERNAME"),
                    password=given.get("password") or environ.get(env_key + "_PASSWORD"),
                    token=given.get("token") or environ.get(env_key + "_TOKEN"),
                )
            )
        unknown = sorted(set(credentials) - {e.name for e in endpoints})
        if unknown:
            raise SettingsError(
                f"--dicomweb-credentials names endpoints not configured: {', '.join(unknown)}"
            )
        return cls(endpoints)

    @property
    def names(self):
        """Configured endpoint names."""
        return sorted(self._by_name)

    def get(self, name):
        """The endpoint called ``name``; an unconfigured name is an :class:`UnknownEndpoint`."""
        endpoint = self._by_name.get(name)
        if endpoint is None:
            configured = ", ".join(self.names) if self._by_name else "none"
            raise UnknownEndpoint(
                f"DICOMweb endpoint {name[:64]!r} is not configured on this server "
                f"(configured: {configured}); "
                "the server fetches only from endpoints named in its own --dicomweb options"
            )
        return endpoint


def _http_status(exc):
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _call(endpoint, what, function, *args, **kwargs):
    """Run a dicomweb-client call; 404 -> None, other failures -> EndpointError."""
    import requests

    try:
        return function(*args, **kwargs)
    except requests.HTTPError as exc:
        if _http_status(exc) == 404:
            return None
        raise EndpointError(
            f"DICOMweb endpoint {endpoint.name}: {what} failed (HTTP {_http_status(exc)})"
        ) from None
    except requests.RequestException as exc:
        raise EndpointError(
            f"DICOMweb endpoint {endpoint.name} unreachable during {what} ({type(exc).__name__})"
        ) from None


def _value(item, tag):
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def fetch_reference(endpoint, reference, folder):
    """Download what ``reference`` names into ``folder``; returns the instance file paths.

    The image series (named, or the one the SEG/RTSTRUCT references) and the SEG/RTSTRUCT instance (named, or
    every SEG/RTSTRUCT of the study that references the image series). Requests: one QIDO-RS series search
    (it also tells whether the study exists), a QIDO-RS instance search only when the ROI object is named,
    one WADO-RS retrieval per SEG/RTSTRUCT series and per image series.
    """
    client = endpoint.client()
    folder = Path(folder)
    study = reference.study_uid
    series = (
        _call(endpoint, "QIDO-RS series search", client.search_for_series, study_instance_uid=study) or []
    )
    if not series:
        raise ReferenceNotFound(f"study {study} not found at DICOMweb endpoint {endpoint.name}")
    modalities = {_value(item, "0020000E"): _value(item, "00080060") for item in series}
    if reference.series_uid and reference.series_uid not in modalities:
        raise ReferenceNotFound(
            f"series {reference.series_uid} not found in study {study} at DICOMweb endpoint {endpoint.name}"
        )
    roi_objects = []  # pydicom datasets of the SEG/RTSTRUCT instances
    if reference.roi_uid:
        instances = _call(
            endpoint,
            "QIDO-RS instance search",
            client.search_for_instances,
            study_instance_uid=study,
            search_filters={"SOPInstanceUID": reference.roi_uid},
        )
        if not instances:
            raise ReferenceNotFound(
                f"SEG/RTSTRUCT instance {reference.roi_uid} not found in study {study} at DICOMweb endpoint "
                f"{endpoint.name}"
            )
        ds = _call(
            endpoint,
            "WADO-RS instance retrieval",
            client.retrieve_instance,
            study,
            _value(instances[0], "0020000E"),
            reference.roi_uid,
            media_types=MEDIA_TYPES,
        )
        if ds is None:
            raise ReferenceNotFound(
                f"SEG/RTSTRUCT instance {reference.roi_uid} could not be retrieved from {endpoint.name}"
            )
        roi_objects.append(ds)
    else:
        for series_uid, modality in modalities.items():
            if modality in ("SEG", "RTSTRUCT"):
                roi_objects.extend(
                    _call(
                        endpoint,
                        "WADO-RS series retrieval",
                        client.retrieve_series,
                        study,
                        series_uid,
                        media_types=MEDIA_TYPES,
                    )
                    or []
                )
    paths = []
    image_series = {reference.series_uid} if reference.series_uid else set()
    for ds in roi_objects:
        if str(ds.SOPClassUID) not in SEG_SOP_CLASSES | {RTSTRUCT_SOP_CLASS}:
            if reference.roi_uid:
                raise InvalidInput(
                    f"instance {reference.roi_uid} is not a SEG or RTSTRUCT (SOP class {ds.SOPClassUID})"
                )
            continue  # e.g. a SEG-modality series holding another kind of object
        referenced = _referenced_series(ds)
        if reference.series_uid and reference.roi_uid == "" and reference.series_uid not in referenced:
            continue  # another series' ROI object
        if not reference.series_uid:
            image_series |= referenced & set(modalities)
        paths.append(_save(ds, folder / f"roi-{len(paths)}.dcm"))
    if not image_series:
        # nothing references a series we can fetch: let the analysis say what is missing
        image_series = {
            uid for uid, modality in modalities.items() if modality not in ("SEG", "RTSTRUCT", "SR")
        }
    for series_uid in sorted(image_series):
        written = _call(
            endpoint,
            "WADO-RS series retrieval",
            _retrieve_series_files,
            endpoint,
            study,
            series_uid,
            folder,
            len(paths),
        )
        if not written:
            raise ReferenceNotFound(
                f"series {series_uid} of study {study} has no instances at {endpoint.name}"
            )
        paths.extend(written)
    return paths


#: WADO-RS series retrieval: every instance as stored (any transfer syntax), as a multipart/related body.
SERIES_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
#: Seconds to connect to an endpoint / to wait for its answer.
HTTP_TIMEOUT = (10, 300)
#: Bytes per read of a WADO-RS body.
READ_CHUNK = 1 << 20


def _retrieve_series_files(endpoint, study, series_uid, folder, start):
    """WADO-RS: a series' instances written to ``folder`` as Part 10 files; returns their paths.

    The image series is the bulk of a study (10 MB for 512 x 512 x 20). dicomweb-client would parse every
    instance into a pydicom dataset (and the files would then be encoded again); its multipart body is
    split here instead and each part's bytes go to a file unchanged, to be read once by the series reader.
    dicomweb-client has no public call that returns the parts as bytes, so this request goes out on the
    endpoint's own session (same credentials and connection pool as its client).
    """
    response = endpoint.session().get(
        f"{endpoint.url}/studies/{study}/series/{series_uid}",
        headers={"Accept": SERIES_ACCEPT},
        timeout=HTTP_TIMEOUT,
        stream=True,
    )
    with response:
        response.raise_for_status()
        # 1 MiB reads: requests' ``.content`` reads 10 KiB at a time, ~1,000 Python-level reads for a
        # 10 MB series (~5 ms of the 25-ms transfer on this machine)
        body = b"".join(response.iter_content(READ_CHUNK))
    paths = []
    for part in split_multipart(response.headers.get("Content-Type", ""), body):
        path = folder / f"{start + len(paths):05d}.dcm"
        with open(path, "wb") as handle:
            handle.write(part)
        paths.append(path)
    return paths


def split_multipart(content_type, body):
    """Split a ``multipart/related`` HTTP body (RFC 2046) into its parts, memoryviews of ``body`` (no copies).

    A body that is not multipart (a server answering one instance as plain ``application/dicom``) is one part.
    """
    media_type, *parameters = [item.strip() for item in content_type.split(";")]
    if media_type.lower() != "multipart/related":
        return [memoryview(body)] if body else []
    boundary = next(
        (v.strip('"') for k, _, v in (p.partition("=") for p in parameters) if k.lower() == "boundary"), None
    )
    if not boundary:
        raise EndpointError("the DICOMweb answer is multipart/related without a boundary")
    delimiter = b"\r\n--" + boundary.encode()
    view, parts = memoryview(body), []
    if body.startswith(delimiter[2:]):  # the first delimiter opens the body, without a CRLF before it
        position, length = 0, len(delimiter) - 2
    else:
        position, length = body.find(delimiter), len(delimiter)
    while position >= 0:
        begin = position + length
        if body[begin : begin + 2] == b"--":
            return parts  # the closing delimiter
        header_end = body.find(b"\r\n\r\n", begin)
        end = body.find(delimiter, header_end)
        if header_end < 0 or end < 0:
            raise EndpointError("the DICOMweb answer is a truncated multipart/related body")
        parts.append(view[header_end + 4 : end])
        position, length = end, len(delimiter)
    return parts


def _referenced_series(ds):
    from .analysis import _referenced_series as referenced

    return referenced(ds)


def _save(ds, path):
    ds.save_as(path, enforce_file_format=True)
    return path


def store_datasets(endpoint, datasets):
    """STOW-RS ``datasets`` to ``endpoint``; returns their SOP Instance UIDs."""
    if not datasets:
        return []
    client = endpoint.client()
    result = _call(endpoint, "STOW-RS", client.store_instances, list(datasets))
    failed = result.get("00081198", {}).get("Value") if result is not None else None
    if result is None or failed:
        raise EndpointError(
            f"DICOMweb endpoint {endpoint.name}: STOW-RS refused {len(failed or datasets)} instance(s)"
        )
    return [str(ds.SOPInstanceUID) for ds in datasets]
