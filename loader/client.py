"""The one way to the catalogue: a thin wrapper around ckanapi.

It adds what the loader needs and ckanapi leaves to its callers: timeouts,
retries of reads (never of writes: a repeated create makes a duplicate),
uploads streamed from disk instead of read into memory, and the catalogue's
errors turned into this module's exception classes, so that no other module
imports ckanapi or requests.
"""

from __future__ import annotations

import ast
import json
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import ckanapi
import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from loader import __version__

USER_AGENT = f"bcdc-loader/{__version__}"
HOSTS = {
    "prod": "https://catalogue.data.gov.bc.ca",
    "test": "https://cat.data.gov.bc.ca",
}
# The largest upload each BCDC host takes (production refuses more with HTTP 413).
UPLOAD_LIMITS = {HOSTS["prod"]: 150 << 20, HOSTS["test"]: 150 << 20}
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 300  # a large upload is acknowledged only once stored
READ_RETRIES = 3
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
    """No answer: connection refused, dropped or timed out.

    `maybe_saved` is False only when the request never left (no connection
    could be made); after that, a write may or may not have been saved.
    """

    maybe_saved = True


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


class _StreamingCKAN(ckanapi.RemoteCKAN):  # type: ignore[misc]
    """RemoteCKAN whose multipart uploads stream the file from disk, saying how far they got."""

    report_bytes: BytesListener | None = None  # set by Catalogue: hears upload bytes as sent

    def _request_fn(
        self,
        url: str,
        data: dict[str, Any],
        headers: dict[str, str],
        files: Files | None,
        requests_kwargs: dict[str, Any],
    ) -> tuple[int, str]:
        if not files:
            answer: tuple[int, str] = super()._request_fn(
                url, data, headers, files, requests_kwargs
            )
            return answer
        fields: dict[str, Any] = {_text(key): _text(value) for key, value in data.items()}
        fields.update(files)
        sent = 0

        def progress(monitor: MultipartEncoderMonitor) -> None:
            nonlocal sent
            if self.report_bytes is not None:
                self.report_bytes(monitor.bytes_read - sent)
            sent = monitor.bytes_read

        body = MultipartEncoderMonitor(MultipartEncoder(fields=fields), progress)
        headers = {**headers, "Content-Type": body.content_type}
        response = self.session.post(
            url, data=body, headers=headers, allow_redirects=False, **requests_kwargs
        )
        return response.status_code, response.text


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


def _translate(error: Exception, action: str) -> CatalogueError:
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

    def __init__(self, url: str, api_key: str | None = None):
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._local = threading.local()
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
        """Call an action; reads may be retried on a dropped connection, writes never."""
        kwargs = {"timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}
        attempts = READ_RETRIES if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._ckan().call_action(
                    action, data or {}, files=files, requests_kwargs=kwargs
                )
            except (ckanapi.CKANAPIError, requests.RequestException) as error:
                translated = _translate(error, action)
                if isinstance(translated, Unreachable) and attempt < attempts:
                    time.sleep(0.5 * 2**attempt)
                    continue
                raise translated from None
        raise AssertionError("unreachable")

    # --- reads ---------------------------------------------------------------

    def read(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read action whose answer is a dict (retried on a dropped connection)."""
        return _a_dict(action, self.call(action, data, retry=True))

    def user(self) -> dict[str, Any]:
        """The user the token belongs to."""
        return self.read("user_show")

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

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        return self.read("scheming_dataset_schema_show", {"type": dataset_type})

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        """The web page of a resource, as the catalogue links it (by dataset type)."""
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

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
        content_type = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
        with upload.open("rb") as stream:
            files: Files = {"upload": (upload.name, stream, content_type)}
            resource = _a_dict(action, self.call(action, flat, files=files))
        if not structured:
            return resource
        try:
            patch = {"id": resource["id"], **structured}
            return _a_dict("resource_patch", self.call("resource_patch", patch))
        except CatalogueError as error:
            error.partial_resource = resource  # the file and text fields were saved
            raise

    def delete_resource(self, resource_id: str) -> None:
        self.call("resource_delete", {"id": resource_id})


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
    return UPLOAD_LIMITS.get(url.rstrip("/").lower())


def is_production(url: str) -> bool:
    """Whether `url` is the production catalogue."""
    return url.rstrip("/").lower() == HOSTS["prod"]
