"""Where a catalogue is, and what its host implies: pure functions on addresses.

`prod` and `test` name the two BC Data Catalogue hosts; any other catalogue
is named by its URL. From the host alone the loader decides whether writing
there needs a confirmation (production), how large an upload it takes, and
whether a token may be sent to it (https, or this machine). The page's guard
uses the same loopback test for the Host header it is sent.

The host decided must be the host connected to. URL parsers disagree on
what no person types: urllib3 (which requests connects with) ends the host
at a backslash and decodes `%2E`, where `urllib.parse` reads the text before
an `@` as user info and keeps `%2E` as it is. So an address is taken only in
the plain form both read alike: `http` or `https` (any case), a host of
ASCII letters, digits, `-`, `_` and dots (or an IPv6 address in brackets),
an optional port and a path; nothing else (no user info, backslash, percent
sign, query, fragment, space or control character). `address` is the one
parser; everything here decides on what it returns.

Nothing here talks to the network: no HTTP library is imported (a test
checks that the hosts this module reads are those urllib3 connects to).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from loader.text import escape

HOSTS = {
    "prod": "https://catalogue.data.gov.bc.ca",
    "test": "https://cat.data.gov.bc.ca",
}
PRODUCTION_HOST = "catalogue.data.gov.bc.ca"
# The largest upload each BCDC host takes (production refuses more with HTTP 413).
UPLOAD_LIMITS = {"catalogue.data.gov.bc.ca": 150 << 20, "cat.data.gov.bc.ca": 150 << 20}


# scheme://host[:port][/path], with nothing a person would not type (see above)
_PLAIN = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>/[a-z0-9._~!$&'()*+,;=:/-]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Address:
    """A catalogue's address, as the HTTP library will read it."""

    scheme: str  # "http" or "https"
    host: str  # lower case, without a trailing dot or IPv6 brackets
    port: int | None
    path: str  # "" or "/..." without a trailing slash

    @property
    def url(self) -> str:
        """The address written plainly: scheme and host in lower case, no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"


def address(url: str) -> Address:
    """The parts of a catalogue's URL; ValueError, saying why, when it is not the plain
    form both URL parsers read alike (see the module's docstring)."""
    text = url.strip()
    match = _PLAIN.fullmatch(text)
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise ValueError(
            f"'{escape(text)}' is not a plain catalogue address: write scheme, host, optional port "
            "and path only (https://host[:port][/path]), without user info, backslashes, "
            "percent signs, a query or non-ASCII letters"
        )
    host = match["host"].lower().strip("[]").rstrip(".")
    if match["host"].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"'{escape(text)}' is not a plain catalogue address: bad IPv6 host"
            ) from None
    path = (match["path"] or "").rstrip("/")
    return Address(match["scheme"].lower(), host, port, path)


def catalogue_url(target: str) -> str:
    """A catalogue's address from `prod`, `test` or a URL, written plainly (ValueError when
    it is none of those, or not plain)."""
    url = HOSTS.get(target.strip().lower(), target.strip())
    if not re.match(r"https?://", url, re.IGNORECASE):
        raise ValueError(f"'{escape(target)}' is neither prod, test nor an http(s) URL")
    return address(url).url


def host_of(url: str) -> str:
    """The host a URL names, as DNS reads it: lower case, without a trailing dot
    (ValueError when the URL is not a plain address)."""
    return address(url).host


def upload_limit(url: str) -> int | None:
    """The largest file, in bytes, the catalogue at `url` is known to take; None when unknown."""
    return UPLOAD_LIMITS.get(host_of(url))


def is_production(url: str) -> bool:
    """Whether `url` is the production catalogue, however written (case, port, path,
    trailing dot, http or https)."""
    return host_of(url) == PRODUCTION_HOST


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine."""
    return is_loopback_host(host_of(url))


def secure_for_token(url: str) -> bool:
    """Whether a token may be sent to `url`: over https, or to this machine."""
    return address(url).scheme == "https" or is_loopback(url)
