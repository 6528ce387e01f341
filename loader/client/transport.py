"""One request to the catalogue: sent, streamed, its answer read where it is seen, retried.

ckanapi builds each action's request; this module sends it over a requests
session of the calling thread's own, with timeouts and without following
redirects (a redirected POST would arrive without its body). Uploads stream
the file from disk and say how far they got; only the file validation pinned
is sent, hashed as it streams: a file that changes while it is sent fails at
once, and one whose bytes are not those checked has its last bytes held
back, so that the catalogue stores nothing of it. The answer is classified
where it is in hand, from its HTTP status and body (`errors.answer_error`),
so every answer that is not a success leaves here as one of the error
classes, and no error text is ever parsed back. Errors never carry the
token, even when an answer echoed it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import ckanapi
import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from loader import __version__
from loader.client.errors import (
    BUSY,
    GATEWAY,
    SERVER_FAULT,
    Busy,
    CatalogueError,
    FileAltered,
    HttpAnswer,
    NotAuthorized,
    NotFound,
    ServerFault,
    Unreachable,
    UploadFailed,
    answer_error,
    retry_after_seconds,
)
from loader.pinned import Altered, PinnedFile

USER_AGENT = f"bcdc-loader/{__version__}"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 300  # a large upload is acknowledged only once stored

# Retries: at most ATTEMPTS tries of one call, waiting BACKOFF * 2**n seconds (with
# jitter, at most BACKOFF_CAP) between them, or what Retry-After asks (at most
# errors.RETRY_AFTER_CAP). Reads are retried after any failure to connect or answer
# and after 429, 502, 503 and 504; writes only when the catalogue surely did not act
# (no connection made, 429, 503). A write whose answer was lost is never sent
# again here: the executor looks first.
ATTEMPTS = 5
BACKOFF = 0.5
BACKOFF_CAP = 8.0

# multipart file fields: {field name: (file name, stream, content type)}
Files = dict[str, tuple[str, BinaryIO, str]]
# called with the number of bytes of an upload just sent
BytesListener = Callable[[int], None]
T = TypeVar("T")


class _Answered(Exception):
    """An answer that is not a success, on its way from the session to the caller."""

    def __init__(self, answer: HttpAnswer):
        super().__init__(answer.status)
        self.answer = answer


class _StreamingCKAN(ckanapi.RemoteCKAN):  # type: ignore[misc]
    """RemoteCKAN whose uploads stream from disk, and whose answers are looked at
    where they arrive: anything but a success is raised as it was seen."""

    report_bytes: BytesListener | None = None  # hears upload bytes as sent

    def _request_fn(
        self,
        url: str,
        data: Any,
        headers: dict[str, str],
        files: Files | None,
        requests_kwargs: dict[str, Any],
    ) -> tuple[int, str]:
        if files:
            data, headers = self._multipart(data, headers, files)
        response = self.session.post(
            url, data=data, headers=headers, allow_redirects=False, **requests_kwargs
        )
        answer = HttpAnswer(
            response.status_code,
            response.text,
            response.headers.get("Content-Type", ""),
            response.headers.get("Retry-After"),
        )
        if not answer.succeeded:
            raise _Answered(answer)
        return answer.status, answer.body

    def _multipart(
        self, data: Any, headers: dict[str, str], files: Files
    ) -> tuple[MultipartEncoderMonitor, dict[str, str]]:
        """The form and its files as a stream that reports the bytes read from it."""
        fields: dict[str, Any] = {_text(key): _text(value) for key, value in data.items()}
        fields.update(files)
        sent = 0

        def progress(monitor: MultipartEncoderMonitor) -> None:
            nonlocal sent
            if self.report_bytes is not None:
                self.report_bytes(monitor.bytes_read - sent)
            sent = monitor.bytes_read

        monitor = MultipartEncoderMonitor(MultipartEncoder(fields=fields), progress)
        return monitor, {**headers, "Content-Type": monitor.content_type}


class SteadyFile:
    """A pinned file being uploaded, hashed as it is read: reading fails at once if
    the file changes meanwhile, rather than leaving the catalogue waiting for bytes
    that never come, and the last bytes are held back when what was read is not
    what was checked (its SHA-256), so the catalogue never stores them."""

    def __init__(self, stream: BinaryIO, file: PinnedFile):
        self._stream = stream
        self._file = file
        status = os.fstat(stream.fileno())
        self._size, self._mtime = status.st_size, status.st_mtime_ns
        self._digest = hashlib.sha256()
        self.sent = 0
        self._reads = 0

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes read so far."""
        return self._digest.hexdigest()

    def fileno(self) -> int:  # lets the encoder wrap it and size it from disk
        return self._stream.fileno()

    def tell(self) -> int:
        return self._stream.tell()

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        self.sent += len(chunk)
        self._reads += 1
        moved = False
        last = self.sent >= self._size
        if self._reads % 64 == 0 or not chunk or last:  # look every half MiB, and at the end
            status = os.fstat(self._stream.fileno())
            moved = (status.st_size, status.st_mtime_ns) != (self._size, self._mtime)
        short = size != 0 and not chunk and self.sent < self._size
        if moved or short or self.sent > self._size:
            raise Altered(
                f"the file {self._file} changed while it was being sent ({self.sent:,} of "
                f"{self._size:,} bytes read); nothing of it was saved: run the row again "
                "once the file is whole"
            )
        if last and self._file.sha256 and self.sha256 != self._file.sha256:
            raise Altered(  # the end of the upload is withheld: nothing is stored
                f"the file {self._file} changed after it was checked: its bytes are not "
                "those checked (the same size and time, another content); nothing of it "
                "was saved: run the row again to send it as it is now"
            )
        return chunk


@dataclass(frozen=True)
class Sent:
    """What an upload sent of its file."""

    size: int
    sha256: str


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class Transport:
    """Requests to one catalogue with one token. Safe to share between threads: each
    thread gets its own HTTP session, and `close` ends them all."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_bytes: BytesListener | None = None,
    ):
        self.url = url
        self._api_key = api_key
        self._sleep = sleep
        self._on_bytes = on_bytes
        self._clients: dict[threading.Thread, _StreamingCKAN] = {}
        self._lock = threading.Lock()
        self.retries = 0  # calls tried again (the fault tests count them)

    def _ckan(self) -> _StreamingCKAN:
        """This thread's client; the sessions of threads that have ended are closed."""
        me = threading.current_thread()
        with self._lock:
            ckan = self._clients.get(me)
            if ckan is None:
                for thread in [t for t in self._clients if not t.is_alive()]:
                    self._clients.pop(thread).close()
                ckan = _StreamingCKAN(
                    self.url,
                    apikey=self._api_key,
                    user_agent=USER_AGENT,
                    session=requests.Session(),
                )
                ckan.report_bytes = self._on_bytes
                self._clients[me] = ckan
        return ckan

    def close(self) -> None:
        """Close every thread's session (a later call opens a new one)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for ckan in clients:
            ckan.close()

    def call(self, action: str, data: dict[str, Any] | None = None, *, read: bool = False) -> Any:
        """Call an action and return its result. `read` marks a read: retried after
        any failure to get an answer; a write is retried only when the catalogue
        surely did not act."""
        return self._with_retries(lambda: self._send(action, data, None), read=read)

    def upload(self, action: str, data: dict[str, Any], file: PinnedFile) -> tuple[Any, Sent]:
        """Call an action sending `file` as its `upload` field (a write, retried only
        when the catalogue surely did not act). Returns the result and what was sent.

        Only the file pinned is sent, as it was when pinned and, when its SHA-256
        is known, as those very bytes; else FileAltered, and nothing is saved."""
        return self._with_retries(lambda: self._upload_once(action, data, file), read=False)

    def _upload_once(self, action: str, data: dict[str, Any], file: PinnedFile) -> tuple[Any, Sent]:
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        try:
            stream = file.open()
        except OSError as error:
            raise UploadFailed(f"cannot read the file {file}: {error.strerror or error}") from None
        except Altered as altered:
            raise FileAltered(altered.message, altered.replaced) from None
        with stream:
            steady = SteadyFile(stream, file)
            files: Files = {"upload": (file.name, steady, content_type)}  # type: ignore[dict-item]
            try:
                answer = self._send(action, data, files)
            except Altered as altered:
                raise FileAltered(altered.message, altered.replaced) from None
            return answer, Sent(steady.sent, steady.sha256)

    def _send(self, action: str, data: dict[str, Any] | None, files: Files | None) -> Any:
        kwargs = {"timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}
        try:
            return self._ckan().call_action(action, data or {}, files=files, requests_kwargs=kwargs)
        except _Answered as answered:
            raise self._without_token(answer_error(action, answered.answer)) from None
        except requests.RequestException as error:
            raise self._without_token(_unreachable(action, error)) from None

    def download(self, url: str, path: Path) -> int:
        """Save the file at `url` to `path` (streamed; retried like a read); returns its
        size in bytes. The token is sent only to the catalogue's own address."""
        headers = {"User-Agent": USER_AGENT}
        if self._api_key and url.startswith(self.url + "/"):
            headers["Authorization"] = self._api_key
        return self._with_retries(lambda: self._fetch(url, headers, path), read=True)

    def _fetch(self, url: str, headers: dict[str, str], path: Path) -> int:
        partial = path.with_name(path.name + ".part")
        try:
            with self._ckan().session.get(
                url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            ) as response:
                if response.status_code >= 400:
                    retry_after = response.headers.get("Retry-After")
                    raise _download_error(url, response.status_code, retry_after)
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

    def _with_retries(self, send: Callable[[], T], read: bool) -> T:
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


def _unreachable(action: str, error: requests.RequestException) -> Unreachable:
    """No answer; `maybe_saved` is False only when no connection could be made."""
    unreachable = Unreachable(f"{action}: no answer from the catalogue ({type(error).__name__})")
    never_sent = isinstance(error, requests.ConnectTimeout) or (
        isinstance(error, requests.ConnectionError)
        and "Failed to establish a new connection" in str(error)
    )
    unreachable.maybe_saved = not never_sent
    return unreachable


def _download_error(url: str, status: int, retry_after: str | None) -> CatalogueError:
    """A download's HTTP error: the status decides (the body is the file's, or a page)."""
    message = f"download of {url}: HTTP {status}"
    if status in BUSY:
        return Busy(message, retry_after_seconds(retry_after))
    if status in GATEWAY:
        return Unreachable(message)
    if status == SERVER_FAULT:
        return ServerFault(message)
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
