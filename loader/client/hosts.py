"""Where a catalogue is, and what its host implies: pure functions on addresses.

`prod` and `test` name the two BC Data Catalogue hosts; any other catalogue
is named by its URL. From the host alone the loader decides whether writing
there needs a confirmation (production), how large an upload it takes, and
whether a token may be sent to it (https, or this machine). The page's guard
uses the same loopback test for the Host header it is sent.

Nothing here talks to the network: no HTTP library is imported.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

HOSTS = {
    "prod": "https://catalogue.data.gov.bc.ca",
    "test": "https://cat.data.gov.bc.ca",
}
PRODUCTION_HOST = "catalogue.data.gov.bc.ca"
# The largest upload each BCDC host takes (production refuses more with HTTP 413).
UPLOAD_LIMITS = {"catalogue.data.gov.bc.ca": 150 << 20, "cat.data.gov.bc.ca": 150 << 20}


def catalogue_url(target: str) -> str:
    """A catalogue's address from `prod`, `test` or a URL (ValueError when it is none)."""
    url = HOSTS.get(target.strip().lower(), target.strip())
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"'{target}' is neither prod, test nor an http(s) URL")
    return url.rstrip("/")


def host_of(url: str) -> str:
    """The host a URL names, as DNS reads it: lower case, without a trailing dot."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


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
    return urlsplit(url.strip()).scheme.lower() == "https" or is_loopback(url)
