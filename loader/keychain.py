"""A catalogue's API token kept in the operating system's keychain, and where every
command looks for a token.

Editors keep passwords in their system's keychain (macOS Keychain, Windows
Credential Locker, the Secret Service of a Linux desktop); a token pasted into
a shell profile or a text file on a shared drive is how tokens leak. The
`keyring` library reaches whichever keychain the system has. Each catalogue
has its own entry, named by its address as the loader connects to it
(`catalogue_key`): `prod`, `https://catalogue.data.gov.bc.ca` and
`HTTPS://Catalogue.Data.Gov.BC.ca./` are one entry, the test catalogue
another.

Where no keychain exists (a server with no desktop session, where `keyring`
falls back to a backend that refuses everything, or finds nothing to chain),
storing a token raises NoKeychain, which says so and points at
--api-key-file. The token is then never written anywhere else: keyring's
file-based backends (which keep it in a file) are not counted as a keychain.

`find_token` is the one lookup order every command uses: --api-key-file, then
$CKAN_API_KEY, then the keychain, then (for a command that writes, on a
terminal) a prompt. `log_in` keeps a token only once the catalogue has said
whose it is, so the keychain never holds a token that does not work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from loader.client import (
    HOSTS,
    CatalogueAPI,
    CatalogueError,
    NotAuthorized,
    NotFound,
    catalogue_url,
    host_of,
)
from loader.errors import LoaderError

SERVICE = "bcdc-loader"  # the keychain entry's service name; its account is the catalogue
# keyring's own line between a real keychain and a stand-in (a file, or nothing): the
# backends it recommends have priority 1 or more
KEYCHAIN_PRIORITY = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TokenError(LoaderError):
    """A token cannot be read, kept or removed where the command was asked to."""

    exit_code = 2


class NoKeychain(TokenError):
    """This machine has no keychain to keep a token in."""


@dataclass(frozen=True)
class Token:
    """An API token, and where it was found (for messages, which never show the token)."""

    value: str = field(repr=False)
    source: str  # "--api-key-file PATH", "$CKAN_API_KEY", "the keychain" or "the prompt"


def catalogue_key(target: str) -> str:
    """The keychain entry's name for a catalogue: its address as the loader connects to
    it (`prod`, `test` or a URL), in one spelling.

    The BC Data Catalogue's hosts are one entry each however written (case, a
    trailing dot, a port, a path, http or https); any other catalogue is its
    scheme, host, port when not the default, and path, in lower case where
    case does not matter. Raises ValueError for what is not a catalogue address.
    """
    url = catalogue_url(target)
    host = host_of(url)
    for known in HOSTS.values():
        if host == host_of(known):
            return known
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port  # ValueError for a port that is not a number
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        shown += f":{port}"
    return f"{scheme}://{shown}{parts.path.rstrip('/')}"


def keychain_name() -> str | None:
    """The keychain keyring would use, by name; None when there is none."""
    backend = keyring.get_keyring()
    if isinstance(backend, chainer.ChainerBackend):  # it uses the first it chains, if any
        chained = backend.backends
        if not chained:
            return None
        backend = chained[0]
    if isinstance(backend, fail.Keyring) or backend.priority < KEYCHAIN_PRIORITY:
        return None
    return str(backend.name)


def store_token(target: str, token: str) -> str:
    """Keep `token` in the keychain as the catalogue's, replacing any kept before; returns
    the entry's name. Raises NoKeychain where there is no keychain, TokenError when the
    keychain refuses."""
    token = token.strip()
    if not token:
        raise ValueError("an empty token is not kept")
    key = catalogue_key(target)
    _keychain(f"keep the token for {key}")
    try:
        keyring.set_password(SERVICE, key, token)
    except keyring.errors.KeyringError as error:
        raise TokenError(f"The keychain did not keep the token for {key}: {error}") from None
    return key


def stored_token(target: str) -> str | None:
    """The token the keychain keeps for the catalogue; None when it keeps none, or when
    there is no keychain. Raises TokenError when the keychain refuses to answer."""
    key = catalogue_key(target)
    if keychain_name() is None:
        return None
    try:
        token = keyring.get_password(SERVICE, key)
    except keyring.errors.KeyringError as error:
        raise TokenError(f"The keychain did not give the token for {key}: {error}") from None
    return (token.strip() or None) if token else None


def forget_token(target: str) -> bool:
    """Remove the catalogue's token from the keychain; False when it kept none. Raises
    NoKeychain where there is no keychain."""
    key = catalogue_key(target)
    _keychain(f"remove the token for {key}")
    if keyring.get_password(SERVICE, key) is None:
        return False
    try:
        keyring.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as error:
        raise TokenError(f"The keychain did not remove the token for {key}: {error}") from None
    return True


@dataclass(frozen=True)
class Account:
    """Whose a token is and where it may write, as the catalogue says."""

    user: str
    anywhere: bool  # a sysadmin: every dataset
    organizations: tuple[str, ...]  # the organizations whose datasets it may change, by name
    datasets: int  # datasets of other organizations it may change, as a collaborator

    def describe(self) -> str:
        """Who, and where: "you are bcdc-editor; you may change the datasets of ..."."""
        if self.anywhere:
            where = "every dataset (a sysadmin)"
        else:
            parts = []
            if self.organizations:
                parts.append("the datasets of " + ", ".join(self.organizations))
            if self.datasets:
                parts.append(f"{self.datasets} more as a collaborator")
            where = " and ".join(parts) or "no dataset (no organization gives it editing rights)"
        return f"you are {self.user}; you may change the resources of {where}"


def require_keychain(target: str) -> str:
    """The keychain entry's name for the catalogue; NoKeychain, before anything is asked
    of the editor, where this machine has no keychain to keep its token in."""
    key = catalogue_key(target)
    _keychain(f"keep the token for {key}")
    return key


def log_in(target: str, token: str, catalogue: CatalogueAPI) -> tuple[str, Account]:
    """Check `token` against the catalogue `target` (whose it is, where it may write),
    reached through `catalogue` (a client holding that token), then keep it in the
    keychain; returns the entry's name and the account.

    A token the catalogue refuses, or a catalogue that does not answer, raises
    TokenError and nothing is kept; so does a machine without a keychain.
    """
    require_keychain(target)
    if not token.strip():
        raise TokenError("No token was given; nothing was kept.")
    try:
        allowed = catalogue.permissions()
    except (NotFound, NotAuthorized):
        raise TokenError(
            f"{catalogue.url} does not accept this token (is it current, and for this "
            "catalogue?); it was not kept."
        ) from None
    except CatalogueError as error:
        raise TokenError(
            f"Cannot reach {catalogue.url} to check the token ({error.message}); it was not kept."
        ) from None
    account = Account(
        allowed.user, allowed.anywhere, allowed.organization_names, len(allowed.datasets)
    )
    return store_token(target, token), account


def find_token(
    target: str | None,
    api_key_file: Path | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    prompt: Callable[[], str] | None = None,
) -> Token | None:
    """The token a command uses, from the first place that gives one: the file named by
    --api-key-file, then $CKAN_API_KEY, then the keychain's entry for the catalogue
    `target` (skipped when there is no keychain or no target), then `prompt` (given by
    commands that write, when run on a terminal). None when none gives one.

    A file that cannot be read, or holds no token, raises TokenError: the editor
    named it, so it is not passed over for a token from elsewhere.
    """
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise TokenError(f"Cannot read a token from {api_key_file}.") from None
        if not key:
            raise TokenError(f"{api_key_file} holds no token.")
        return Token(key, f"--api-key-file {api_key_file}")
    key = environ.get("CKAN_API_KEY", "").strip()
    if key:
        return Token(key, "$CKAN_API_KEY")
    if target:
        kept = stored_token(target)
        if kept:
            return Token(kept, "the keychain")
    if prompt is not None:
        key = prompt().strip()
        if key:
            return Token(key, "the prompt")
    return None


def _keychain(doing: str) -> None:
    """Raise NoKeychain, saying what could not be done, where there is no keychain."""
    if keychain_name() is None:
        raise NoKeychain(
            f"Cannot {doing}: this machine has no keychain (as on a server with no "
            "desktop session), and the loader never writes a token anywhere else. Keep "
            "the token in a file only you can read and give it with --api-key-file FILE, "
            "or set $CKAN_API_KEY."
        )
