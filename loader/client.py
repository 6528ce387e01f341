"""The one way to the catalogue: a thin wrapper around ckanapi.

It adds what the loader needs and ckanapi leaves to its callers: timeouts,
retries of reads (never of writes: a repeated create makes a duplicate),
uploads streamed from disk instead of read into memory, and the catalogue's
errors turned into this module's exception classes, so that no other module
imports ckanapi or requests.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import mimetypes
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import ckanapi
import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from loader import __version__
from loader.errors import UnsafeTarget

USER_AGENT = f"bcdc-loader/{__version__}"
HOSTS = {
    "prod": "https://catalogue.data.gov.bc.ca",
    "test": "https://cat.data.gov.bc.ca",
}
# The largest upload each BCDC host takes (production refuses more with HTTP 413).
UPLOAD_LIMITS = {"catalogue.data.gov.bc.ca": 150 << 20, "cat.data.gov.bc.ca": 150 << 20}
PRODUCTION_HOST = "catalogue.data.gov.bc.ca"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 300  # a large upload is acknowledged only once stored

# Retries: at most ATTEMPTS tries of one call, waiting BACKOFF * 2**n seconds (with
# jitter, at most BACKOFF_CAP) between them, or what Retry-After asks (at most
# RETRY_AFTER_CAP). Reads are retried after any failure to connect or answer and
# after 429, 502, 503 and 504; writes only when the catalogue surely did not act
# (no connection made, 429, 503). A write whose answer was lost is never sent
# again here: the executor looks first.
ATTEMPTS = 5
BACKOFF = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0
SEARCH_PAGE = 100  # datasets per package_search call (CKAN allows up to 1000)


class CatalogueError(Exception):
    """The catalogue refused or could not answer a call."""

    def __init__(self, message: str, field_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        # set when a two-step write failed after its first step had saved the resource
        self.partial_resource: dict[str, Any] | None = None


class NotFound(CatalogueError):
    """The thing named does not exist (or is invisible to this user)."""


class NotAuthorized(CatalogueError):
    """The token's user may not do this."""


class Invalid(CatalogueError):
    """The catalogue's own validation refused the values; see field_errors."""


class Unreachable(CatalogueError):
    """No answer: connection refused, dropped or timed out, or a gateway's 502/504.

    `maybe_saved` is False only when the request never left (no connection
    could be made); after that, a write may or may not have been saved.
    """

    maybe_saved = True


class Busy(CatalogueError):
    """The catalogue answered 429 or 503: it did not act on the request."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UploadFailed(CatalogueError):
    """The file could not be sent whole (unreadable, or changed while being sent);
    nothing was saved."""


@dataclass(frozen=True)
class Permissions:
    """Where the token's user may change datasets (and so their resources)."""

    user: str
    anywhere: bool = False  # a sysadmin
    organizations: frozenset[str] = frozenset()  # ids of organizations it edits
    datasets: frozenset[str] = frozenset()  # ids of datasets it edits as a collaborator

    def may_write(self, package: dict[str, Any]) -> bool:
        """Whether the user may change this dataset's resources."""
        return (
            self.anywhere
            or package.get("owner_org") in self.organizations
            or package.get("id") in self.datasets
        )


# multipart file fields: {field name: (file name, stream, content type)}
Files = dict[str, tuple[str, BinaryIO, str]]
# called with the number of bytes of an upload just sent
BytesListener = Callable[[int], None]


class CatalogueAPI(Protocol):
    """What the loader asks of a catalogue. `Catalogue` is the real one; the tests'
    in-memory fake satisfies the same contract."""

    url: str
    on_bytes: BytesListener | None

    def user(self) -> dict[str, Any]: ...
    def permissions(self) -> Permissions: ...
    def package(self, name_or_id: str) -> dict[str, Any]: ...
    def organization_packages(self, organization_id: str) -> list[dict[str, Any]]: ...
    def resource(self, resource_id: str) -> dict[str, Any]: ...
    def organization(self, name_or_id: str) -> dict[str, Any]: ...
    def dataset_schema(self, dataset_type: str = ...) -> dict[str, Any]: ...
    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str: ...
    def write_resource(
        self, action: str, data: dict[str, Any], upload: Path | None = ...
    ) -> dict[str, Any]: ...
    def delete_resource(self, resource_id: str) -> None: ...
    def touch_resource(self, resource_id: str, timestamp: str) -> dict[str, Any]: ...
    def version(self) -> str: ...
    def revise_package(self, data: dict[str, Any]) -> dict[str, Any]: ...
    def download(self, url: str, path: Path) -> int: ...


class _StreamingCKAN(ckanapi.RemoteCKAN):  # type: ignore[misc]
    """RemoteCKAN whose multipart uploads stream the file from disk, saying how far they got."""

    report_bytes: BytesListener | None = None  # set by Catalogue: hears upload bytes as sent

    last_headers: Any = {}  # the headers of the last answer (for Retry-After)

    def _request_fn(
        self,
        url: str,
        data: Any,
        headers: dict[str, str],
        files: Files | None,
        requests_kwargs: dict[str, Any],
    ) -> tuple[int, str]:
        if files:
            fields: dict[str, Any] = {_text(key): _text(value) for key, value in data.items()}
            fields.update(files)
            sent = 0

            def progress(monitor: MultipartEncoderMonitor) -> None:
                nonlocal sent
                if self.report_bytes is not None:
                    self.report_bytes(monitor.bytes_read - sent)
                sent = monitor.bytes_read

            data = MultipartEncoderMonitor(MultipartEncoder(fields=fields), progress)
            headers = {**headers, "Content-Type": data.content_type}
        # no redirects: a redirected POST would arrive without its body
        response = self.session.post(
            url, data=data, headers=headers, allow_redirects=False, **requests_kwargs
        )
        self.last_headers = response.headers
        return response.status_code, response.text


class FileChanged(Exception):
    """A file changed while it was being sent (not an OSError, so that the HTTP
    stack lets it through instead of retrying)."""


class _SteadyFile:
    """A file being uploaded: reading it fails at once if it changes meanwhile,
    rather than leaving the catalogue waiting for bytes that never come."""

    def __init__(self, stream: BinaryIO, path: Path):
        self._stream = stream
        self._path = path
        status = os.fstat(stream.fileno())
        self._size, self._mtime = status.st_size, status.st_mtime_ns
        self.sent = 0
        self._reads = 0

    def fileno(self) -> int:  # lets the encoder wrap it and size it from disk
        return self._stream.fileno()

    def tell(self) -> int:
        return self._stream.tell()

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.sent += len(chunk)
        self._reads += 1
        moved = False
        if self._reads % 64 == 0 or not chunk:  # look at the file every half MiB or so
            status = os.fstat(self._stream.fileno())
            moved = (status.st_size, status.st_mtime_ns) != (self._size, self._mtime)
        short = size != 0 and not chunk and self.sent < self._size
        if moved or short or self.sent > self._size:
            raise FileChanged(
                f"the file {self._path} changed while it was being sent "
                f"({self.sent} of {self._size} bytes read); nothing was saved"
            )
        return chunk


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _field_errors(error_dict: dict[str, Any]) -> dict[str, str]:
    """Flatten CKAN's error_dict to {column: message}, dotted for grouped fields."""
    flat: dict[str, str] = {}
    for key, value in error_dict.items():
        if key.startswith("__"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                for sub, message in _field_errors(entry).items():
                    flat[f"{key}.{sub}"] = message
        elif isinstance(value, dict):
            for sub, message in _field_errors(value).items():
                flat[f"{key}.{sub}"] = message
        elif isinstance(value, list):
            flat[key] = "; ".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


def _status(error: Exception) -> int | None:
    """The HTTP status of an answer ckanapi could not read as CKAN's own error."""
    arg = error.args[0] if error.args else ""
    if isinstance(arg, str) and arg.startswith("["):
        try:
            status = ast.literal_eval(arg)[1]
        except (ValueError, SyntaxError, IndexError, TypeError):
            return None
        return status if isinstance(status, int) else None
    return None


def _translate(error: Exception, action: str, retry_after: str | None = None) -> CatalogueError:
    status = _status(error) if isinstance(error, ckanapi.CKANAPIError) else None
    if status in (429, 503):
        return Busy(f"{action}: the catalogue is busy (HTTP {status})", _seconds(retry_after))
    if status in (502, 504):
        return Unreachable(
            f"{action}: no answer from the catalogue (HTTP {status} from its gateway)"
        )
    if isinstance(error, ckanapi.NotFound):
        return NotFound(f"{action}: not found ({_detail(error)})")
    if isinstance(error, ckanapi.NotAuthorized):
        return NotAuthorized(f"{action}: not authorized ({_detail(error)})")
    if isinstance(error, ckanapi.ValidationError):
        fields = _field_errors(error.error_dict)
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return Invalid(summary or "the catalogue refused the values without saying why", fields)
    if isinstance(error, requests.RequestException):
        unreachable = Unreachable(
            f"{action}: no answer from the catalogue ({type(error).__name__})"
        )
        never_sent = isinstance(error, requests.ConnectTimeout) or (
            isinstance(error, requests.ConnectionError)
            and "Failed to establish a new connection" in str(error)
        )
        unreachable.maybe_saved = not never_sent
        return unreachable
    return CatalogueError(f"{action}: {_detail(error)}")


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (a number of seconds; an HTTP date is not honoured)."""
    try:
        return min(float(retry_after), RETRY_AFTER_CAP) if retry_after else None
    except ValueError:
        return None


def _detail(error: Exception) -> str:
    arg = error.args[0] if error.args else ""
    if isinstance(arg, dict):
        return str(arg.get("message") or arg)
    if isinstance(arg, str) and arg.startswith("["):
        # ckanapi's generic error is repr([url, status, body]); show status and message
        try:
            _url, status, body = ast.literal_eval(arg)
            message = json.loads(body).get("error", {}).get("message", "")
            return f"HTTP {status}: {message}".rstrip(": ")
        except (ValueError, SyntaxError, AttributeError, TypeError):
            pass
    return str(arg) or type(error).__name__


class Catalogue:
    """A CKAN catalogue reached with one API token.

    Safe to share between threads: each thread gets its own HTTP session.
    `on_bytes`, when set, hears the bytes of uploads as they are sent.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        allow_http: bool = False,
    ):
        """Raises UnsafeTarget when a token would cross the network unencrypted: plain
        http to a host other than this machine, unless `allow_http`."""
        self.url = url.rstrip("/")
        if api_key and not allow_http and not secure_for_token(self.url):
            raise UnsafeTarget(
                f"{self.url} is plain http, so your API token would cross the network "
                "unencrypted; use its https:// address (or --allow-http if you must)"
            )
        self._api_key = api_key
        self._local = threading.local()
        self._has_refresh_action: bool | None = None  # unknown until tried
        self._sleep = sleep
        self.retries = 0  # calls tried again, for the run's summary
        self._user: dict[str, Any] | None = None
        self.on_bytes: BytesListener | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"Catalogue({self.url!r})"

    def _ckan(self) -> _StreamingCKAN:
        ckan = getattr(self._local, "ckan", None)
        if ckan is None:
            ckan = _StreamingCKAN(
                self.url, apikey=self._api_key, user_agent=USER_AGENT, session=requests.Session()
            )
            ckan.report_bytes = self._sent
            self._local.ckan = ckan
        return ckan

    def _sent(self, count: int) -> None:
        if self.on_bytes is not None and count:
            self.on_bytes(count)

    def call(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        files: Files | None = None,
        retry: bool = False,
    ) -> Any:
        """Call an action. `retry` marks a read: retried after any failure to get an
        answer; a write is retried only when the catalogue surely did not act."""
        return self._with_retries(action, lambda: self._send(action, data, files), read=retry)

    def _send(self, action: str, data: dict[str, Any] | None, files: Files | None) -> Any:
        ckan = self._ckan()
        kwargs = {"timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}
        try:
            return ckan.call_action(action, data or {}, files=files, requests_kwargs=kwargs)
        except (ckanapi.CKANAPIError, requests.RequestException) as error:
            retry_after = ckan.last_headers.get("Retry-After") if ckan.last_headers else None
            raise self._without_token(_translate(error, action, retry_after)) from None

    def _with_retries(self, action: str, send: Callable[[], Any], read: bool) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return send()
            except CatalogueError as error:
                wait = _retry_wait(error, attempt, read)
                if wait is None or attempt == ATTEMPTS:
                    raise
                self.retries += 1
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _without_token(self, error: CatalogueError) -> CatalogueError:
        """The error with the token blanked out, should the answer have echoed it."""
        key = self._api_key
        if key and (key in error.message or any(key in v for v in error.field_errors.values())):
            error.message = error.message.replace(key, "[token]")
            error.args = (error.message,)
            error.field_errors = {
                k: v.replace(key, "[token]") for k, v in error.field_errors.items()
            }
        return error

    # --- reads ---------------------------------------------------------------

    def read(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read action whose answer is a dict (retried on a dropped connection)."""
        return _a_dict(action, self.call(action, data, retry=True))

    def user(self) -> dict[str, Any]:
        """The user the token belongs to (asked once: a run's token does not change)."""
        if self._user is None:
            self._user = self.read("user_show")
        return self._user

    def permissions(self) -> Permissions:
        """Where the token's user may write: anywhere for a sysadmin, else the
        organizations it may update datasets of, and datasets it collaborates on."""
        user = self.user()
        name = str(user.get("name", ""))
        if user.get("sysadmin"):
            return Permissions(name, anywhere=True)
        who = user.get("id") or name
        query = {"id": who, "permission": "update_dataset", "include_dataset_count": False}
        organizations = self.call("organization_list_for_user", query, retry=True)
        try:
            shared = self.call(
                "package_collaborator_list_for_user", {"id": who, "capacity": "editor"}, retry=True
            )
        except CatalogueError:  # collaborators are switched off on this catalogue
            shared = []
        return Permissions(
            name,
            organizations=frozenset(o["id"] for o in organizations),
            datasets=frozenset(c["package_id"] for c in shared),
        )

    def package(self, name_or_id: str) -> dict[str, Any]:
        return self.read("package_show", {"id": name_or_id})

    def resource(self, resource_id: str) -> dict[str, Any]:
        return self.read("resource_show", {"id": resource_id})

    def organization_packages(self, organization_id: str) -> list[dict[str, Any]]:
        """Every dataset of an organization the token may see, private ones included
        (package_search by owner_org, paged, in name order so pages do not shift)."""
        found: list[dict[str, Any]] = []
        while True:
            query = {
                "fq": f"owner_org:{organization_id}",
                "include_private": True,
                "rows": SEARCH_PAGE,
                "start": len(found),
                "sort": "name asc",
            }
            page = self.read("package_search", query)
            results = list(page.get("results") or [])
            found.extend(results)
            if not results or len(found) >= int(page.get("count") or 0):
                return found

    def organization(self, name_or_id: str) -> dict[str, Any]:
        return self.read("organization_show", {"id": name_or_id, "include_datasets": False})

    def version(self) -> str:
        """The CKAN release the catalogue runs (status_show), e.g. "2.10.11"."""
        return str(self.read("status_show").get("ckan_version", ""))

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        return self.read("scheming_dataset_schema_show", {"type": dataset_type})

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        """The web page of a resource, as the catalogue links it (by dataset type)."""
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

    def download(self, url: str, path: Path) -> int:
        """Save the file at `url` to `path` (streamed; retried like a read); returns its
        size in bytes. The token is sent only to the catalogue's own address."""
        headers = {"User-Agent": USER_AGENT}
        if self._api_key and url.startswith(self.url + "/"):
            headers["Authorization"] = self._api_key
        return int(
            self._with_retries("download", lambda: self._fetch(url, headers, path), read=True)
        )

    def _fetch(self, url: str, headers: dict[str, str], path: Path) -> int:
        partial = path.with_name(path.name + ".part")
        try:
            with self._ckan().session.get(
                url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            ) as response:
                if response.status_code >= 400:
                    raise _download_error(url, response.status_code, response.headers)
                size = 0
                with partial.open("wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        out.write(chunk)
                        size += len(chunk)
        except requests.RequestException as error:
            partial.unlink(missing_ok=True)
            raise Unreachable(f"download of {url}: no answer ({type(error).__name__})") from None
        partial.replace(path)
        return size

    # --- writes ----------------------------------------------------------------

    def write_resource(
        self, action: str, data: dict[str, Any], upload: Path | None = None
    ) -> dict[str, Any]:
        """resource_create / resource_update / resource_patch, with an optional upload.

        A multipart upload carries only text fields; structured values (lists
        and groups) follow in a second, JSON call on the same resource, since
        the catalogue does not read JSON inside form fields for them. If that
        second call fails, the error carries `partial_resource`.
        """
        if upload is None:
            return _a_dict(action, self.call(action, data))
        # The catalogue stamps last_modified on every upload; a value the editor
        # gives is sent afterwards so that it is the one kept.
        later = {k for k, v in data.items() if isinstance(v, (list, dict)) or k == "last_modified"}
        flat = {k: v for k, v in data.items() if k not in later}
        structured = {k: v for k, v in data.items() if k in later}
        resource = self._with_retries(
            action, lambda: self._upload(action, flat, upload), read=False
        )
        if not structured:
            return _a_dict(action, resource)
        try:
            patch = {"id": resource["id"], **structured}
            return _a_dict("resource_patch", self.call("resource_patch", patch))
        except CatalogueError as error:
            error.partial_resource = resource  # the file and text fields were saved
            raise

    def _upload(self, action: str, data: dict[str, Any], upload: Path) -> dict[str, Any]:
        """One try at sending a file; it must not change while it is sent, and the
        catalogue must store as many bytes as were sent."""
        content_type = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
        try:
            stream = upload.open("rb")
        except OSError as error:
            raise UploadFailed(
                f"cannot read the file {upload}: {error.strerror or error}"
            ) from None
        with stream:
            steady = _SteadyFile(stream, upload)
            files: Files = {"upload": (upload.name, steady, content_type)}  # type: ignore[dict-item]
            try:
                resource = _a_dict(action, self._send(action, data, files))
            except FileChanged as changed:
                raise UploadFailed(str(changed)) from None
        stored = resource.get("size")
        if stored not in (None, "") and int(stored) != steady.sent:
            mismatch = CatalogueError(
                f"{action}: the catalogue stored {stored} bytes of the file {upload.name}, "
                f"but {steady.sent} were sent"
            )
            mismatch.partial_resource = resource
            raise mismatch
        return resource

    def delete_resource(self, resource_id: str) -> None:
        self.call("resource_delete", {"id": resource_id})

    def touch_resource(self, resource_id: str, timestamp: str) -> dict[str, Any]:
        """Set only last_modified: the catalogue's refresh action where it has one
        (the BC Data Catalogue does), else a patch of that one field.

        The refresh action takes `YYYY-MM-DD HH:MM:SS` and quietly leaves a
        DataStore resource alone, so its answer is checked and a patch follows
        when the stamp did not land."""
        stamp = datetime.fromisoformat(timestamp).replace(tzinfo=None)
        if self._has_refresh_action is not False:
            data = {"id": resource_id, "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S")}
            try:
                answer = self.call("update_resource_refresh_timestamp", data)
                self._has_refresh_action = True
                if isinstance(answer, dict) and _stamp_of(answer) == stamp:
                    return answer
            except CatalogueError as error:
                if "Action name not known" not in error.message:
                    raise
                self._has_refresh_action = False
        patch = {"id": resource_id, "last_modified": stamp.isoformat()}
        return _a_dict("resource_patch", self.call("resource_patch", patch))

    def revise_package(self, data: dict[str, Any]) -> dict[str, Any]:
        """package_revise: several resource changes to one dataset in one transaction.
        Returns the dataset as saved."""
        answer = _a_dict("package_revise", self.call("package_revise", data))
        return _a_dict("package_revise", answer.get("package"))


def _download_error(url: str, status: int, headers: Any) -> CatalogueError:
    """A download's HTTP error as one of this module's errors."""
    message = f"download of {url}: HTTP {status}"
    if status in (429, 503):
        return Busy(message, _seconds(headers.get("Retry-After")))
    if status in (502, 504):
        return Unreachable(message)
    kinds: dict[int, type[CatalogueError]] = {401: NotAuthorized, 403: NotAuthorized, 404: NotFound}
    return kinds.get(status, CatalogueError)(message)


def _retry_wait(error: CatalogueError, attempt: int, read: bool) -> float | None:
    """Seconds to wait before trying again, or None when the call must not be repeated."""
    if isinstance(error, Busy):
        if error.retry_after is not None:
            return error.retry_after
    elif not isinstance(error, Unreachable) or (error.maybe_saved and not read):
        return None
    backoff = min(BACKOFF * 2.0 ** (attempt - 1), BACKOFF_CAP)
    return backoff * (0.5 + random.random() / 2)  # jitter: several loaders do not beat together


def _stamp_of(resource: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(resource.get("last_modified"))).replace(tzinfo=None)
    except ValueError:
        return None


def _a_dict(action: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise CatalogueError(f"{action}: unexpected answer from the catalogue")
    return answer


def catalogue_url(target: str) -> str:
    """A catalogue's address from `prod`, `test` or a URL."""
    url = HOSTS.get(target.strip().lower(), target.strip())
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"'{target}' is neither prod, test nor an http(s) URL")
    return url.rstrip("/")


def upload_limit(url: str) -> int | None:
    """The largest file, in bytes, the catalogue at `url` is known to take; None when unknown."""
    return UPLOAD_LIMITS.get(host_of(url))


def host_of(url: str) -> str:
    """The host a URL names, as DNS reads it: lower case, without a trailing dot."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def is_production(url: str) -> bool:
    """Whether `url` is the production catalogue, however written (case, port, path,
    trailing dot, http or https)."""
    return host_of(url) == PRODUCTION_HOST


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = host_of(url)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_for_token(url: str) -> bool:
    """Whether a token may be sent to `url`: over https, or to this machine."""
    return urlsplit(url.strip()).scheme.lower() == "https" or is_loopback(url)
