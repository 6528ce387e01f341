"""The catalogue the page was started with, and the token the editor gave for it.

The token lives here and nowhere else: not in a file, a cookie, a log or a
page. It is kept only once the catalogue has said whose it is. Each token
(and none, for public datasets) gets one catalogue client, kept while the
server runs and closed when it stops.
"""

from __future__ import annotations

import threading

from loader.serve import library


class CatalogueAccess:
    """The page's way into its catalogue: the address, the token, and a client a token."""

    def __init__(self, url: str | None, api_key: str | None = None, source: str = ""):
        """`source` says where a token given at start came from ($CKAN_API_KEY, the
        keychain); a token typed on the page has none."""
        self.url = url
        self.production = url is not None and library.is_production(url)
        self._api_key = api_key or None
        self._catalogues: dict[str | None, library.Catalogue] = {}  # by token
        self._lock = threading.Lock()
        self.user = ""
        self.token_source = source if api_key else ""
        self.token_problem = ""

    @property
    def has_token(self) -> bool:
        return bool(self._api_key)

    def catalogue(self) -> library.Catalogue:
        """The catalogue, reached with the token held (or as anyone: public datasets)."""
        return self._client(self._api_key)

    def _client(self, api_key: str | None) -> library.Catalogue:
        assert self.url, "no catalogue was chosen"
        with self._lock:
            found = self._catalogues.get(api_key)
            if found is None:
                found = self._catalogues[api_key] = library.connect(self.url, api_key)
        return found

    def set_token(self, api_key: str) -> None:
        """Hold a token after the catalogue accepts it; remember why when it does not."""
        api_key = api_key.strip()
        self.token_problem = ""
        if not api_key:
            self.token_problem = "The token field was empty."
            return
        if self.url:
            try:
                self.user = library.who(self._client(api_key))
            except library.UnsafeTarget:  # plain http to another machine
                self.token_problem = self._unsafe()
                return
            except library.CatalogueError:
                self.token_problem = (
                    f"{self.url} does not accept this token (is it current, and "
                    "for this catalogue?). It was not kept."
                )
                return
        self._api_key = api_key
        self.token_source = ""

    def forget_token(self) -> None:
        self._api_key = None
        self.user = ""
        self.token_source = ""

    def check_user(self) -> None:
        """Name the user of a token given at start (once)."""
        if self._api_key and not self.user and self.url:
            try:
                self.user = library.who(self.catalogue())
            except library.UnsafeTarget:  # plain http to another machine
                self._api_key = None
                self.token_from_environment = False
                self.token_problem = self._unsafe()
            except library.CatalogueError as error:
                self._api_key = None  # asked once; the editor can enter another on the page
                self.token_problem = (
                    f"The token from {self.token_source} was not accepted ({error.message}); "
                    "enter one here."
                )

    def _unsafe(self) -> str:
        """Why a token is not kept for a catalogue over plain http to another machine."""
        return (
            f"{self.url} is plain http, so a token would cross the network unencrypted; "
            "it was not kept. Start bcdc-loader serve with the catalogue's https:// address."
        )

    def close(self) -> None:
        """Close every catalogue client."""
        with self._lock:
            catalogues, self._catalogues = list(self._catalogues.values()), {}
        for catalogue in catalogues:
            catalogue.close()
