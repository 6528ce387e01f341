"""How the command line reaches the catalogue: its address, the token, and asking first.

`--ckan` names the catalogue (`prod`, `test` or a URL). The token comes from
`--api-key-file`, `$CKAN_API_KEY`, the keychain (`bcdc-loader login`) or a
hidden prompt, in that order (`loader.keychain.find_token`), never from the
command line (where the shell history and the process list would keep it).
Writing to the production catalogue asks first, or needs `--yes` when
unattended.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from loader.client import Catalogue, CatalogueError, catalogue_url, is_production
from loader.errors import SchemaError
from loader.keychain import find_token
from loader.schema import Schema, load_schema, schema_from_scheming
from loader.text import for_terminal


def target_url(target: str) -> str:
    """A --ckan value (URL, test or prod) as the catalogue's address."""
    try:
        return catalogue_url(target)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--ckan") from None


def named_target(target: str | None) -> str:
    """The catalogue a command needs (--ckan or $CKAN_URL), as its address."""
    if not target:
        raise click.UsageError("say which catalogue: --ckan URL|test|prod, or set CKAN_URL")
    return target_url(target)


@dataclass(frozen=True)
class Writing:
    """How a command that writes reaches the catalogue: --ckan, --api-key-file,
    --yes and --allow-http."""

    target: str | None
    api_key_file: Path | None
    yes: bool
    allow_http: bool

    def catalogue(self, dry_run: bool) -> Catalogue:
        """The catalogue, with its token; before writing to production (not a dry run,
        no --yes) the editor is asked."""
        url = named_target(self.target)
        interactive = sys.stdin.isatty()
        catalogue = Catalogue(
            url, api_key(url, self.api_key_file, interactive), allow_http=self.allow_http
        )
        if not dry_run and not self.yes:
            _confirm_production(url, interactive)
        return catalogue


@dataclass(frozen=True)
class Reading:
    """What a command that only reads the catalogue reads (--ckan, --api-key-file,
    --organization, --package)."""

    target: str | None
    api_key_file: Path | None
    organizations: tuple[str, ...]
    packages: tuple[str, ...]

    def catalogue(self) -> Catalogue:
        """The catalogue to read, once the options say what to read; the token is optional
        (public datasets need none)."""
        url = named_target(self.target)
        if not self.organizations + self.packages:
            raise click.UsageError("say what to read: --organization NAME or --package NAME")
        token = find_token(url, self.api_key_file)  # public datasets need none
        return Catalogue(url, token.value if token else None)


def _confirm_production(url: str, interactive: bool) -> None:
    """Ask before writing to production; unattended, --yes is the only way."""
    if not is_production(url):
        return
    if not interactive:
        raise click.UsageError("writing to the production catalogue needs --yes when unattended")
    click.confirm(f"Write to the production catalogue {for_terminal(url)}?", abort=True, err=True)


def api_key(url: str, api_key_file: Path | None, interactive: bool) -> str:
    """The token for the catalogue at `url`: from --api-key-file, $CKAN_API_KEY, the
    keychain, or (on a terminal) a hidden prompt; never from the command line."""
    token = find_token(url, api_key_file, prompt=ask_token(url) if interactive else None)
    if token is None:
        raise click.UsageError(
            "no API token: keep one in the keychain with `bcdc-loader login --ckan "
            f"{url}`, set CKAN_API_KEY, or use --api-key-file"
        )
    return token.value


def ask_token(url: str) -> Callable[[], str]:
    """A hidden prompt for the token of the catalogue at `url`."""

    def ask() -> str:
        text: str = click.prompt(
            f"API token for {for_terminal(url)} (your account page in the catalogue, then "
            "API Tokens)",
            hide_input=True,
            err=True,
        )
        return text.strip()

    return ask


def resolve_schema(source: str, url: str | None) -> Schema:
    """The bundled schema, or the live one read from the catalogue at `url`."""
    if source == "bundled":
        return load_schema()
    if not url:
        raise click.UsageError("--schema live needs the catalogue's address: --ckan URL|test|prod")
    try:
        with Catalogue(url) as catalogue:
            return schema_from_scheming(catalogue.dataset_schema(), source=url)
    except CatalogueError as error:
        raise SchemaError(f"cannot read the schema of {url}: {error.message}") from None
