"""The command line's options, each declared once, and the groups that become one value.

Commands share options (`--ckan`, `--sheet`, `-o`...); each is declared here
once, with a command's own help where it differs. Options that belong
together reach the command as one value, built here, so that a command
takes a few typed values rather than a long list of flags:

- `check_options`: --sheet, --files-from, --schema, --max-file-size, --trust-file, which
  become a `loader.options.CheckOptions` once the catalogue is known;
- `run_options`: what `run` does with the rows, as a `loader.options.RunOptions`
  (which `--datastore-wait`, declared beside it, completes);
- `writing` and `reading`: how a command reaches the catalogue (`access`).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from loader.cli.access import Reading, Writing, resolve_schema
from loader.options import (
    DATASTORE_WAIT,
    JOBS_DEFAULT,
    JOBS_LIMIT,
    TARGETS_LIMIT,
    CheckOptions,
    MaxFileSize,
    RunOptions,
)

# What a click option makes of a command (and what a group of them makes).
Decorator = Callable[[Any], Any]


def packed(name: str, build: Callable[..., Any], *options: Decorator) -> Decorator:
    """Click options whose values reach the command as one argument, `name`: what
    `build` makes of them (its parameters are named as the options' values are)."""
    keys = list(inspect.signature(build).parameters)

    def decorate(command: Callable[..., Any]) -> Any:
        @functools.wraps(command)
        def with_value(*args: Any, **kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in keys}
            return command(*args, **kwargs, **{name: build(**values)})

        wrapped: Any = with_value
        for option in reversed(options):
            wrapped = option(wrapped)
        return wrapped

    return decorate


def ckan_option(help_text: str, *, from_environment: bool = True) -> Decorator:
    """--ckan URL|test|prod (by default also from $CKAN_URL), with the command's own help."""
    return click.option(
        "--ckan",
        "target",
        envvar="CKAN_URL" if from_environment else None,
        metavar="URL|test|prod",
        help=help_text,
    )


def output_option(help_text: str) -> Decorator:
    """-o/--output FILE, with the command's own help."""
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help=help_text
    )


def api_key_file_option(help_text: str) -> Decorator:
    """--api-key-file FILE: the token, read from a file (never given on the command line)."""
    return click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help=help_text,
    )


schema_option = click.option(
    "--schema",
    "schema_source",
    type=click.Choice(["bundled", "live"]),
    default="bundled",
    show_default=True,
    help="Check against the schema shipped with the loader, or the catalogue's own.",
)


# -- checking a batch ---------------------------------------------------------------

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmg])i?b?|b)?", re.IGNORECASE)


def parse_size(text: str | None) -> MaxFileSize:
    """--max-file-size as bytes (None: no limit); without it, the catalogue's own limit."""
    if text is None:
        return TARGETS_LIMIT
    if text.strip().lower() == "none":
        return None
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise click.BadParameter(
            f"'{text}' is not a size such as 150MB, 2GB or none", param_hint="--max-file-size"
        )
    power = " kmg".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * 1024**power)


@dataclass(frozen=True)
class CheckChoices:
    """What the check options say, until the catalogue they are for is known."""

    sheet: str | None
    files_from: tuple[Path, ...]
    schema_source: str
    max_file_size: str | None
    trusted_files: tuple[Path, ...]

    def options_for(self, url: str | None) -> CheckOptions:
        """The check's options for a batch meant for the catalogue at `url`: its schema
        when --schema live, its upload limit unless --max-file-size."""
        return CheckOptions.for_target(
            url,
            sheet=self.sheet,
            schema=resolve_schema(self.schema_source, url),
            files_from=self.files_from,
            max_file_size=parse_size(self.max_file_size),
            trusted_files=self.trusted_files,
        )


check_options: Decorator = packed(
    "check",
    CheckChoices,
    click.option(
        "--sheet", help="The workbook sheet holding the batch (default: 'Batch', else the first)."
    ),
    click.option(
        "--files-from",
        "files_from",
        multiple=True,
        metavar="DIR",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="A folder files to upload may also come from (repeatable); by default only the "
        "batch's own folder.",
    ),
    schema_option,
    click.option(
        "--max-file-size",
        metavar="SIZE",
        help="Refuse rows whose file to upload is larger: e.g. 150MB, 2GB, or none "
        "(MB = 1024 x 1024 bytes; default: 150MB for prod and test, none for other URLs).",
    ),
    click.option(
        "--trust-file",
        "trusted_files",
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="A file to upload that you know is fine: do not look inside it for problems "
        "(repeatable).",
    ),
)


# -- running a batch ------------------------------------------------------------------


def _run_options(  # the flags, as click names them
    dry_run: bool,
    skip_invalid: bool,
    jobs: int,
    no_fold: bool,
    force_upload: bool,
    touch: bool,
    resume: bool,
    keep_replaced: Path | None,
) -> RunOptions:
    return RunOptions(
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        jobs=jobs,
        fold=not no_fold,
        force_upload=force_upload,
        touch=touch,
        resume=resume,
        keep_replaced=keep_replaced,
    )


run_options: Decorator = packed(
    "run",
    _run_options,
    click.option(
        "--dry-run", is_flag=True, help="Resolve every row and say what it would do; write nothing."
    ),
    click.option(
        "--skip-invalid", is_flag=True, help="Run the valid rows even when some rows are invalid."
    ),
    click.option(
        "--jobs",
        "-j",
        type=click.IntRange(JOBS_DEFAULT, JOBS_LIMIT),
        default=JOBS_DEFAULT,
        show_default=True,
        help="Datasets worked on at once (rows of one dataset always run in order).",
    ),
    click.option(
        "--no-fold",
        is_flag=True,
        help="One call per row, instead of one call for consecutive rows of a dataset "
        "that move no file.",
    ),
    click.option(
        "--force-upload",
        is_flag=True,
        help="Send every file, even one the resource already holds (same size and hash).",
    ),
    click.option(
        "--touch",
        is_flag=True,
        help="When a file is unchanged, still record the refresh: set last_modified to now.",
    ),
    click.option(
        "--resume",
        is_flag=True,
        help="Continue the run whose journal is beside -o (default: the newest result of "
        "this batch): rows done are not run again, rows in doubt are looked up first.",
    ),
    click.option(
        "--keep-replaced",
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help="Before a row replaces or deletes an uploaded file, download it into DIR "
        "(DIR/RESOURCE_ID/N/NAME), so that undo can put it back.",
    ),
)

# --datastore-wait: `run`'s own, beside the group (which holds as many flags as a function may)
datastore_wait_option = click.option(
    "--datastore-wait",
    type=click.IntRange(min=0),
    default=DATASTORE_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="How long the catalogue may take to load each file sent into its DataStore, "
    "counted from its upload, before the run stops waiting (0: do not wait, only say "
    "how each load stands).",
)


# -- reaching the catalogue --------------------------------------------------------------


def writing(ckan_help: str) -> Decorator:
    """--ckan, --api-key-file, --yes and --allow-http, as one `access.Writing`."""
    return packed(
        "access",
        Writing,
        ckan_option(ckan_help),
        api_key_file_option(
            "A file holding the API token (otherwise $CKAN_API_KEY, the keychain (see login), "
            "or a prompt)."
        ),
        click.option(
            "--yes", is_flag=True, help="Do not ask before writing to the production catalogue."
        ),
        click.option(
            "--allow-http",
            is_flag=True,
            help="Send the token over plain http to a host other than this machine (unencrypted).",
        ),
    )


reading: Decorator = packed(
    "access",
    Reading,
    ckan_option("The catalogue to read: a URL, or test / prod (default: $CKAN_URL)."),
    api_key_file_option(
        "A file holding the API token (otherwise $CKAN_API_KEY, or the keychain (see login)); "
        "needed only for private datasets."
    ),
    click.option(
        "--organization",
        "organizations",
        multiple=True,
        metavar="NAME",
        help="Every dataset of this organization (name or id); repeat for more.",
    ),
    click.option(
        "--package",
        "packages",
        multiple=True,
        metavar="NAME",
        help="This dataset (name or id); repeat for more.",
    ),
)
