"""What every request to the page must pass before a view sees it.

The page can write to the catalogue with the editor's token, so it trusts
nothing but the browser that opened its secret address:

- the Host header must name the loopback address (a page on another site
  that rebinds its own name to 127.0.0.1 carries its own name here);
- every request carries the secret: in the address the server printed
  (once; it is then kept in a cookie) or in that cookie;
- a request that changes something (any method but GET and HEAD) must come
  from the page itself: its Origin (or, lacking one, its Referer) is this
  very host.

Responses also forbid framing, inline script and caching.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from loader.client.hosts import is_loopback_host

SECRET_PARAM = "secret"
SAFE_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin: forms send their Referer to this page, links to the catalogue send none.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def cookie_name(secret: str) -> str:
    """A cookie name of this server's own, so that two servers on one machine never mix."""
    return "bcdc_loader_" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def host_is_loopback(host: str) -> bool:
    """Whether a Host header names the loopback address (with or without a port)."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:port
        name = host[1:].partition("]")[0]
    else:
        name = host.rpartition(":")[0] if ":" in host else host
    return is_loopback_host(name)


def same_origin(host: str, origin: str | None, referer: str | None) -> bool:
    """Whether a state-changing request comes from a page of this host."""
    mine = f"http://{host}".lower()
    if origin:
        return origin.lower() == mine
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == mine
    return False


def refuse(reason: str) -> Response:
    """A 403 page saying why the request was refused."""
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Refused</title>"
        f"</head><body><h1>Refused</h1><p>{escape(reason)}</p></body></html>"
    )
    return Response(body, status=403, mimetype="text/html")


def install(app: Flask, secret: str) -> None:
    """Refuse, before any view runs, every request that does not pass the rules above."""
    cookie = cookie_name(secret)

    @app.before_request
    def check_request() -> BaseResponse | None:
        if not host_is_loopback(request.host):
            return refuse(
                "This page answers only at the loopback address (127.0.0.1); "
                "the Host header of this request names another host."
            )
        given = request.args.get(SECRET_PARAM)
        if given is not None:
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return refuse("The secret in this address is wrong.")
            # Keep the secret in a cookie and take it out of the address bar.
            rest = {k: v for k, v in request.args.items() if k != SECRET_PARAM}
            target = request.path + ("?" + urlencode(rest) if rest else "")
            response = redirect(target, code=303)
            response.set_cookie(cookie, secret, httponly=True, samesite="Strict", path="/")
            return response
        held = request.cookies.get(cookie, "")
        if not hmac.compare_digest(held.encode(), secret.encode()):
            return refuse(
                "This page needs the address that `bcdc-loader serve` printed when it "
                "started (the one with ?secret=...). Open that address."
            )
        if request.method not in SAFE_METHODS and not same_origin(
            request.host, request.headers.get("Origin"), request.headers.get("Referer")
        ):
            return refuse("A change to this page must be sent from the page itself.")
        return None

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
