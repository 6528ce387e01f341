"""Start the page on the loopback address and open the browser on its secret address."""

from __future__ import annotations

import secrets
import signal
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from loader.serve.app import create_app
from loader.serve.guard import SECRET_PARAM
from loader.serve.workspace import Workspace

HOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """Logs method, path and status: never the query, which carries the secret once."""

    def log_request(
        self,
        code: int | str = "-",
        size: int | str = "-",  # noqa: ARG002 - the signature the server calls
    ) -> None:
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


def make_page_server(
    folder: Path,
    catalogue_url: str | None,
    api_key: str | None = None,
    port: int = 0,
    token_source: str = "$CKAN_API_KEY",
) -> tuple[BaseWSGIServer, str, Workspace]:
    """A server on 127.0.0.1 (port 0: any free one), the address to open, and its workspace.
    `token_source` says where `api_key` came from ($CKAN_API_KEY, the keychain)."""
    workspace = Workspace(folder, catalogue_url, api_key, token_source)
    secret = secrets.token_urlsafe(32)
    app = create_app(workspace, secret)
    server = make_server(HOST, port, app, threaded=True, request_handler=_QuietHandler)
    url = f"http://{HOST}:{server.port}/?{SECRET_PARAM}={secret}"
    return server, url, workspace


def serve(
    folder: Path,
    catalogue_url: str | None,
    api_key: str | None = None,
    port: int = 0,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
    token_source: str = "$CKAN_API_KEY",
) -> None:
    """Serve the page until interrupted; the scratch folder goes when it stops."""
    server, url, workspace = make_page_server(folder, catalogue_url, api_key, port, token_source)
    say(f"bcdc-loader serve: open {url}")
    say("(only this address works: it carries the page's secret). Ctrl-C stops the server.")
    if open_browser:
        webbrowser.open(url)
    # A plain `kill` stops it as Ctrl-C does, so the scratch folder still goes.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        workspace.close()


def _interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt
