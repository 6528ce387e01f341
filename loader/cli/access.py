"""How the command line reaches the catalogue: its address, the token, and asking first.

`--ckan` names the catalogue (`prod`, `test` or a URL). The token comes from
`--api-key-file`, `$CKAN_API_KEY` or a hidden prompt, never from the command
line (where the shell history and the process list would keep it). Writing
to the production catalogue asks first, or needs `--yes` when unattended.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from loader.client import Catalogue, CatalogueError, catalogue_url, is_production
from loader.errors import SchemaError
from loader.schema import Schema, load_schema, schema_from_scheming
from loader.text import for_terminal


def target_url(target: str) -> str:
    """A --ckan value (URL, test or prod) as the catalogue's address."""
    try:
        return catalogue_url(target)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--ckan") from None


def _named(target: str | None) -> str:
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
        url = _named(self.target)
        interactive = sys.stdin.isatty()
        catalogue = Catalogue(
            url, api_key(self.api_key_file, interactive), allow_http=self.allow_http
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
        url = _named(self.target)
        if not self.organizations + self.packages:
            raise click.UsageError("say what to read: --organization NAME or --package NAME")
        return Catalogue(url, optional_api_key(self.api_key_file))


def _confirm_production(url: str, interactive: bool) -> None:
    """Ask before writing to production; unattended, --yes is the only way."""
    if not is_production(url):
        return
    if not interactive:
        raise click.UsageError("writing to the production catalogue needs --yes when unattended")
    click.confirm(f"Write to the production catalogue {for_terminal(url)}?", abort=True, err=True)


def api_key(api_key_file: Path | None, interactive: bool) -> str:
    """The token from a file, $CKAN_API_KEY or a prompt; never from the command line."""
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise click.UsageError(f"cannot read a token from {api_key_file}") from None
    else:
        key = os.environ.get("CKAN_API_KEY", "").strip()
    if not key and interactive:
        key = click.prompt(
            "API token (from your catalogue account page)", hide_input=True, err=True
        ).strip()
    if not key:
        raise click.UsageError("no API token: set CKAN_API_KEY or use --api-key-file")
    return key


def optional_api_key(api_key_file: Path | None) -> str | None:
    """For reads: the token from a file or $CKAN_API_KEY, if given (public datasets need none)."""
    if api_key_file is not None:
        return api_key_file.read_text(encoding="utf-8").strip() or None
    return os.environ.get("CKAN_API_KEY", "").strip() or None


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
