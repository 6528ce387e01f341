"""The catalogue's failures as exception classes, and how an HTTP answer maps onto them.

Callers handle failures by type: `NotFound`, `NotAuthorized`, `Invalid` (with
the fields the catalogue named), `Busy` (it did not act: try again later),
`Unreachable` (no answer; a write may or may not have been saved),
`UnknownAction` (the catalogue does not have that action),
`UploadFailed` (the file could not be sent whole), and `CatalogueError` for
every other refusal. Every answer that is not a success is one of these,
whatever its shape: CKAN's own JSON error, a proxy's HTML page, JSON of
another shape, or nothing at all. `answer_error` decides from the status and
the body the transport saw; no exception text is read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any

RETRY_AFTER_CAP = 60.0  # seconds: a longer Retry-After is waited for this long


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


class UnknownAction(CatalogueError):
    """The catalogue has no such action (a plugin it does not run, a custom action of
    another site): CKAN answers HTTP 400 with a bare JSON string for it."""


class UploadFailed(CatalogueError):
    """The file could not be sent whole (unreadable, or changed while being sent);
    nothing was saved."""


BUSY = (429, 503)  # the catalogue (or its front) did not act: try again
GATEWAY = (502, 504)  # a gateway got no answer: the catalogue may have acted


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP answer as the transport saw it: its status, its body and what kind
    of body that is, and the Retry-After it asked for."""

    status: int
    body: str
    content_type: str = ""
    retry_after: str | None = None

    @cached_property
    def parsed(self) -> Any:
        """The body read as JSON; None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def kind(self) -> str:
        """What the body is: "empty", "json", "html" or "text"."""
        if not self.body.strip():
            return "empty"
        if self.parsed is not None:
            return "json"
        looks_html = self.body.lstrip()[:1] == "<" or "html" in self.content_type.lower()
        return "html" if looks_html else "text"

    @property
    def succeeded(self) -> bool:
        """Whether this is CKAN's answer to an action that worked."""
        parsed = self.parsed
        return self.status == 200 and isinstance(parsed, dict) and parsed.get("success") is True


_KIND_WORDS = {
    "empty": "an empty answer",
    "json": "JSON that is not the catalogue's error",
    "html": "an HTML page",
    "text": "plain text",
}
_CKAN_ERRORS: dict[str, type[CatalogueError]] = {
    "Not Found Error": NotFound,
    "Authorization Error": NotAuthorized,
}
_CKAN_WORDS = {NotFound: "not found", NotAuthorized: "not authorized"}


def answer_error(action: str, answer: HttpAnswer) -> CatalogueError:
    """The error an answer that is not a success stands for.

    The status decides first where it says what the catalogue did: 429 and
    503 are Busy (it did not act), 502 and 504 Unreachable (a gateway got no
    answer). Then CKAN's own error (a JSON object whose `error` is an object
    with a `__type`) gives the kind; any other body is a CatalogueError
    naming the status and the kind of body.
    """
    if answer.status in BUSY:
        return Busy(
            f"{action}: the catalogue is busy (HTTP {answer.status})",
            retry_after_seconds(answer.retry_after),
        )
    if answer.status in GATEWAY:
        return Unreachable(
            f"{action}: no answer from the catalogue (HTTP {answer.status} from its gateway)"
        )
    parsed = answer.parsed
    if isinstance(parsed, str) and "Action name not known" in parsed:
        return UnknownAction(f"{action}: the catalogue has no such action")
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return _ckan_error(action, answer.status, error)
    if isinstance(error, str) and error.strip():
        return CatalogueError(f"{action}: HTTP {answer.status}: {error.strip()}")
    return CatalogueError(
        f"{action}: HTTP {_status_words(answer.status)} ({_KIND_WORDS[answer.kind]})"
    )


def _ckan_error(action: str, status: int, error: dict[str, Any]) -> CatalogueError:
    """CKAN's own error object as one of the classes above."""
    kind = error.get("__type")
    message = str(error.get("message") or "")
    if kind == "Validation Error":
        fields = field_errors(error)
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return Invalid(summary or "the catalogue refused the values without saying why", fields)
    if kind in _CKAN_ERRORS:
        error_class = _CKAN_ERRORS[kind]
        detail = (message.split(": ", 1)[-1] if error_class is NotFound else message) or kind
        return error_class(f"{action}: {_CKAN_WORDS[error_class]} ({detail})")
    if isinstance(kind, str) and kind.startswith("Search"):
        return CatalogueError(f"{action}: {message.split(': ', 1)[-1] or kind}")
    return CatalogueError(f"{action}: HTTP {status}: {message}".rstrip(": "))


def _status_words(status: int) -> str:
    """`413 Request Entity Too Large`: the status and its standard phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def field_errors(error_dict: dict[str, Any]) -> dict[str, str]:
    """Flatten CKAN's error_dict to {column: message}, dotted for grouped fields."""
    flat: dict[str, str] = {}
    for key, value in error_dict.items():
        if key.startswith("__"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                for sub, message in field_errors(entry).items():
                    flat[f"{key}.{sub}"] = message
        elif isinstance(value, dict):
            for sub, message in field_errors(value).items():
                flat[f"{key}.{sub}"] = message
        elif isinstance(value, list):
            flat[key] = "; ".join(str(v) for v in value)
        else:
            flat[key] = str(value)
    return flat


def retry_after_seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (a number of seconds; an HTTP date is not honoured)."""
    try:
        return min(float(retry_after), RETRY_AFTER_CAP) if retry_after else None
    except ValueError:
        return None
