"""What a batch from someone else, or a URL typed in a hurry, may not do: publish files from
outside the batch's folder, skip the production check, send the token in clear, write
where the token may not, or leak the token. No catalogue needed; nothing here reaches the
network (anything that could connect points at a dead loopback port or a local socket)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import openpyxl
import pytest
from batches import DOCUMENT, write_batch
from click.testing import CliRunner
from fake_catalogue import FakeCatalogue
from servers import loopback_server

from loader.cli import main
from loader.client import Catalogue, CatalogueError, Permissions, is_production
from loader.errors import UnsafeTarget
from loader.options import CheckOptions, RunOptions
from loader.run import check_batch, run_batch


@pytest.fixture
def dead_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def upload_row(upload: str, name: str = "Sites") -> dict[str, str]:
    return {**DOCUMENT, "name": name, "url": "", "upload": upload}


# -- files to upload stay in the batch's folder ---------------------------------------


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the batch's, holding a file the batch should not reach."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.txt").write_text("not for publishing")
    return folder


@pytest.fixture
def batch_folder(tmp_path) -> Path:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "mine.csv").write_text("a,b\n1,2\n")
    return folder


def test_upload_paths_leading_out_of_the_batch_folder_are_refused(
    batch_folder, outside, monkeypatch, dead_url
):
    monkeypatch.setenv("HOME", str(outside))  # ~ is the runner's home: also outside
    (batch_folder / "link.txt").symlink_to(outside / "secret.txt")
    path = write_batch(
        batch_folder,
        upload_row("mine.csv", "Inside"),
        upload_row("../elsewhere/secret.txt", "Dots"),
        upload_row(str(outside / "secret.txt"), "Absolute"),
        upload_row("~/secret.txt", "Home"),
        upload_row("link.txt", "Link"),
    )
    result = CliRunner().invoke(main, ["validate", str(path)])

    assert result.exit_code == 2
    secret = outside.resolve() / "secret.txt"
    for row, text in [
        (3, "../elsewhere/secret.txt"),
        (4, str(outside / "secret.txt")),
        (5, "~/secret.txt"),
        (6, "link.txt"),
    ]:
        assert (
            f"Row {row}, column 'upload': '{text}' is {secret}, outside {batch_folder.resolve()}; "
            "a batch may only upload files from its own folder: move the file there, or name "
            "its folder with --files-from" in result.output
        )
    assert "Row 2" not in result.output
    # the run refuses the same rows and sends nothing
    ran = CliRunner().invoke(
        main, ["run", str(path), "--ckan", dead_url, "-q"], env={"CKAN_API_KEY": "t"}
    )
    assert ran.exit_code == 2 and "cannot reach" not in ran.output + ran.stderr


def test_files_from_names_other_folders_on_validate_and_run(batch_folder, outside, dead_url):
    path = write_batch(batch_folder, upload_row("../elsewhere/secret.txt"))
    assert check_batch(path).exit_code == 2

    result = check_batch(path, CheckOptions(files_from=[outside]))
    assert result.exit_code == 0
    cli = CliRunner().invoke(main, ["validate", str(path), "--files-from", str(outside)])
    assert cli.exit_code == 0, cli.output

    # run: refused as invalid without it; with it the row is valid, and the run goes on to
    # the catalogue (here a dead port, so it cannot start)
    run = ["run", str(path), "--ckan", dead_url, "--dry-run", "-q"]
    refused = CliRunner().invoke(main, run, env={"CKAN_API_KEY": "t"})
    assert refused.exit_code == 2 and "outside" in refused.stderr
    allowed = CliRunner().invoke(
        main, [*run, "--files-from", str(outside)], env={"CKAN_API_KEY": "t"}
    )
    assert "outside" not in allowed.stderr and f"cannot reach {dead_url}" in allowed.stderr

    catalogue = FakeCatalogue()
    catalogue.add_package("water-quality-monitoring")
    ran = run_batch(
        path, catalogue, RunOptions(check=CheckOptions(files_from=[outside]), dry_run=True)
    )
    assert ran.exit_code == 0
    assert ran.outcomes[0].action == (
        f"would create resource 'Sites' from file {outside.resolve() / 'secret.txt'}"
    )


def test_the_dry_run_and_the_result_show_each_files_full_path(batch_folder):
    path = write_batch(batch_folder, upload_row("mine.csv"))
    catalogue = FakeCatalogue()
    catalogue.add_package("water-quality-monitoring")
    out = batch_folder / "dry.xlsx"

    result = run_batch(path, catalogue, RunOptions(dry_run=True), result_path=out)

    full = str(batch_folder.resolve() / "mine.csv")
    assert result.outcomes[0].action == f"would create resource 'Sites' from file {full}"
    rows = list(openpyxl.load_workbook(out)["Results"].iter_rows(values_only=True))
    assert rows[1][rows[0].index("action")] == f"would create resource 'Sites' from file {full}"
    checked = check_batch(path)
    assert checked.outcomes[0].action == f"create from file {full}"


def test_the_look_inside_a_file_reads_only_the_file_checked(batch_folder, outside):
    """A folder swapped for a link between the path check and the look inside: the
    file outside is not read (its lines could show in messages), and the row says why."""
    from loader.pinned import pin
    from loader.pipeline.validate.contents import Contents

    (batch_folder / "data").mkdir()
    (batch_folder / "data" / "sites.csv").write_text("a,b\n1,2\n")
    (outside / "sites.csv").write_text("secret\nkey,hunter2,x\n")
    pinned = pin(batch_folder / "data" / "sites.csv")
    (batch_folder / "data").rename(batch_folder / "data-checked")
    (batch_folder / "data").symlink_to(outside, target_is_directory=True)

    ((code, column, message),) = Contents().check(pinned, "data/sites.csv", "csv")

    assert (code, column) == ("file-replaced", "upload")
    assert "is no longer the file that was checked" in message and "hunter2" not in message


def test_a_file_rewritten_between_the_check_and_the_plan_fails_its_row_unsent(
    batch_folder, monkeypatch
):
    from loader.pipeline.plan import Planner

    catalogue = FakeCatalogue()
    catalogue.add_package(DOCUMENT["package"])
    path = write_batch(batch_folder, upload_row("mine.csv"))
    plan = Planner.by_dataset  # how a run plans: a dataset at a time

    def rewritten_then_planned(self, *args, **kwargs):
        (batch_folder / "mine.csv").write_text("a,b\n1,2\n3,4\n")
        return plan(self, *args, **kwargs)

    monkeypatch.setattr(Planner, "by_dataset", rewritten_then_planned)

    (outcome,) = run_batch(path, catalogue).outcomes

    assert (outcome.status, outcome.code) == ("failed", "file-changed")
    assert "changed after it was checked (it was 8 bytes, now 12)" in outcome.error
    assert catalogue.calls == []


# -- the production catalogue, however its address is written ------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://catalogue.data.gov.bc.ca",
        "https://catalogue.data.gov.bc.ca:443",
        "https://catalogue.data.gov.bc.ca.",
        "https://catalogue.data.gov.bc.ca/ckan",
        "http://catalogue.data.gov.bc.ca",
        "HTTPS://Catalogue.Data.Gov.BC.CA/",
        "https://catalogue.data.gov.bc.ca.:443/ckan/",
    ],
)
def test_production_is_recognised_by_its_host(url):
    assert is_production(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://cat.data.gov.bc.ca",
        "https://catalogue.data.gov.bc.ca.example.com",
        "https://notcatalogue.data.gov.bc.ca",
        "http://127.0.0.1:5055",
    ],
)
def test_other_hosts_are_not_production(url):
    assert not is_production(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://catalogue.data.gov.bc.ca:443",
        "https://CATALOGUE.data.gov.bc.ca./ckan",
    ],
)
def test_writing_to_production_by_any_spelling_needs_yes(tmp_path, url):
    path = write_batch(tmp_path, DOCUMENT)
    result = CliRunner().invoke(
        main, ["run", str(path), "--ckan", url, "-q"], env={"CKAN_API_KEY": "t"}
    )
    assert result.exit_code == 2
    assert "writing to the production catalogue needs --yes when unattended" in result.output
    assert list(tmp_path.iterdir()) == [path]  # refused before anything ran


def test_http_to_another_host_is_refused_when_a_token_would_be_sent(tmp_path):
    path = write_batch(tmp_path, DOCUMENT)
    url = "http://catalogue.data.gov.bc.ca"
    result = CliRunner().invoke(
        main, ["run", str(path), "--ckan", url, "--dry-run"], env={"CKAN_API_KEY": "t"}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: http://catalogue.data.gov.bc.ca is plain http, so your API token would cross "
        "the network unencrypted; use its https:// address (or --allow-http if you must)"
    )
    assert list(tmp_path.iterdir()) == [path]
    # --allow-http lets it through to the next check: production still needs --yes
    allowed = CliRunner().invoke(
        main, ["run", str(path), "--ckan", url, "--allow-http", "-q"], env={"CKAN_API_KEY": "t"}
    )
    assert allowed.exit_code == 2 and "needs --yes" in allowed.output


def test_http_is_fine_to_this_machine_and_without_a_token():
    for url in ("http://127.0.0.1:5055", "http://localhost:5055", "http://[::1]:5055"):
        assert Catalogue(url, "token").url == url
    assert Catalogue("http://cat.example", None).url == "http://cat.example"
    with pytest.raises(UnsafeTarget):
        Catalogue("http://cat.example", "token")
    assert Catalogue("http://cat.example", "token", allow_http=True).url == "http://cat.example"


# -- the host decided is the host connected to --------------------------------------------

# Addresses where two URL parsers disagree on the host (the HTTP library connects to
# the first host named here), or that no person types: each is refused, not guessed.
HOSTILE_URLS = [
    "https://catalogue.data.gov.bc.ca\\@example.invalid:1/",  # a backslash before user info
    "https://catalogue%2Edata.gov.bc.ca:1/",  # a percent-encoded host name
    "http://192.0.2.2:6063\\@127.0.0.1/",  # the token would go to 192.0.2.2
    "https://user:secret@cat.data.gov.bc.ca/",  # user info
    "https://catalogue.data.gov.bc.ca\t.example/",  # a tab the parsers drop or refuse
    "https://catalogue.data.gov.bc.ca/?next=@example.invalid",  # a query
    "https://catalogue.data.gov.bc.ca#@example.invalid",  # a fragment
    "https://café.example/",  # a host not in ASCII: the libraries encode it differently
    "https://catalogue.data.gov.bc.ca:99999/",  # no such port
    "https:///catalogue.data.gov.bc.ca",  # no host
]


@pytest.fixture
def no_network(monkeypatch):
    """Any request the client would make fails the test instead of leaving the machine."""
    from loader.client import transport

    def refuse_to_send(*args, **kwargs):
        raise AssertionError("a request was about to be sent")

    monkeypatch.setattr(transport.Transport, "_send", refuse_to_send)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_an_address_a_person_would_not_write_is_refused_before_anything_is_sent(
    tmp_path, url, no_network
):
    from loader.client import catalogue_url

    with pytest.raises(ValueError, match="is not a plain catalogue address"):
        catalogue_url(url)
    path = write_batch(tmp_path, DOCUMENT)
    for extra in ([], ["--dry-run"], ["--yes", "--allow-http"]):
        result = CliRunner().invoke(
            main, ["run", str(path), "--ckan", url, "-q", *extra], env={"CKAN_API_KEY": "t"}
        )
        assert result.exit_code == 2, result.output
        assert "is not a plain catalogue address" in result.output
    with pytest.raises(UnsafeTarget, match="is not a plain catalogue address"):
        Catalogue(url, None)  # the Python API refuses it too
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://Catalogue.Data.Gov.BC.CA/",
        "https://catalogue.data.gov.bc.ca.:443/ckan/",
        "http://127.0.0.1:5055",
        "http://[::1]:5055/",
        "http://ckan_web:5000/",
        "https://cat.data.gov.bc.ca",
        "https://xn--caf-dma.example/",
    ],
)
def test_an_address_accepted_names_the_host_the_http_library_connects_to(url):
    from urllib.parse import urlsplit

    import requests
    from urllib3.util import parse_url

    from loader.client import catalogue_url, host_of

    plain = catalogue_url(url)
    connected = parse_url(requests.Request("GET", plain + "/api/action/x").prepare().url)
    assert host_of(plain) == connected.host.strip("[]").rstrip(".")
    assert host_of(plain) == (urlsplit(plain).hostname or "").rstrip(".")
    assert host_of(url) == host_of(plain)
    assert urlsplit(plain).port == connected.port


def test_capitals_in_the_scheme_are_a_plain_url():
    from loader.client import catalogue_url

    assert catalogue_url("HTTPS://Catalogue.Data.Gov.BC.CA/") == "https://catalogue.data.gov.bc.ca"
    assert catalogue_url("Http://LOCALHOST:5055/CKAN/") == "http://localhost:5055/CKAN"


PRODUCTION_SPELLINGS = [
    "prod",
    "PROD",
    "https://catalogue.data.gov.bc.ca",
    "HTTPS://CATALOGUE.DATA.GOV.BC.CA:443/",
    "https://catalogue.data.gov.bc.ca./ckan",
    "http://catalogue.data.gov.bc.ca",
]


@pytest.mark.parametrize("spelling", PRODUCTION_SPELLINGS)
def test_the_page_asks_for_the_production_tick_wherever_the_command_line_asks(tmp_path, spelling):
    from loader.cli.access import target_url
    from loader.serve.access import CatalogueAccess

    path = write_batch(tmp_path, DOCUMENT)
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--ckan", spelling, "-q", "--allow-http"],
        env={"CKAN_API_KEY": "t"},
    )
    assert "writing to the production catalogue needs --yes when unattended" in result.output
    assert CatalogueAccess(target_url(spelling)).production


# -- where the token may write --------------------------------------------------------


def test_a_dry_run_says_when_the_token_may_not_write_to_the_dataset(tmp_path):
    catalogue = FakeCatalogue()
    catalogue.add_package("water-quality-monitoring", organization="water")
    catalogue.add_package("forest-cover", organization="forests")
    catalogue.granted = Permissions("ed", organizations=frozenset({"org-water"}))
    path = write_batch(
        tmp_path, DOCUMENT, {**DOCUMENT, "package": "forest-cover", "name": "Stands"}
    )

    dry = run_batch(path, catalogue, RunOptions(dry_run=True))

    assert [(o.status, o.code) for o in dry.outcomes] == [
        ("not run", ""),
        ("failed", "may-not-write"),
    ]
    assert dry.outcomes[1].action == "would create resource 'Stands'"
    assert dry.outcomes[1].error == (
        "would create resource 'Stands', but your token (ed) may not write to dataset "
        "'forest-cover' (organization 'forests')"
    )
    assert dry.exit_code == 1

    ran = run_batch(path, catalogue)  # the run fails that row early, without sending it

    assert [(o.status, o.code) for o in ran.outcomes] == [
        ("done", ""),
        ("failed", "may-not-write"),
    ]
    assert catalogue.calls == [("resource_create", "Sampling sites 2024")]


def test_permissions_say_anywhere_for_a_sysadmin_and_by_organization_otherwise():
    package = {"id": "p1", "owner_org": "o1"}
    assert Permissions("admin", anywhere=True).may_write(package)
    assert Permissions("ed", organizations=frozenset({"o1"})).may_write(package)
    assert Permissions("ed", datasets=frozenset({"p1"})).may_write(package)
    assert not Permissions("ed", organizations=frozenset({"o2"})).may_write(package)


# -- the token never leaks -------------------------------------------------------------


@pytest.fixture
def echoes_headers():
    """A server that answers every request with a 500 page quoting the request's headers,
    as a misconfigured proxy might."""

    def echo(conn):
        request = conn.recv(65536).decode("latin-1")
        body = json.dumps({"error": {"message": f"bad request: {request}"}}).encode()
        conn.sendall(
            b"HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )

    with loopback_server(echo) as url:
        yield url


def test_an_answer_echoing_the_token_never_carries_it_on(echoes_headers, tmp_path):
    token = "s3cret-token-4242"
    catalogue = Catalogue(echoes_headers, token)
    with pytest.raises(CatalogueError) as error:
        catalogue.call("package_show", {"id": "x"})
    assert "[token]" in str(error.value) and token not in str(error.value)

    path = write_batch(tmp_path, DOCUMENT)
    out = tmp_path / "results.xlsx"
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--ckan", echoes_headers, "-q", "-o", str(out)],
        env={"CKAN_API_KEY": token},
    )
    assert result.exit_code == 2
    assert "[token]" in result.stderr and token not in result.output + result.stderr


def test_no_option_takes_the_token_itself():
    """A token on the command line would sit in the shell history and the process list."""
    for command in main.commands.values():
        for param in command.params:
            names = " ".join(param.opts).lower()
            assert "key" not in names or "file" in names
            assert "token" not in names


def test_formula_like_values_stay_text_in_the_result_and_the_template(tmp_path):
    from loader.schema import load_schema
    from loader.template import write_template

    path = write_batch(
        tmp_path, {**DOCUMENT, "name": '=HYPERLINK("http://x")', "description": "+1-1"}
    )
    out = tmp_path / "r.xlsx"
    check_batch(path, result_path=out)
    ws = openpyxl.load_workbook(out)["Results"]
    cells = {c.value: c.data_type for row in ws.iter_rows() for c in row}
    assert cells['=HYPERLINK("http://x")'] == "s"
    template = write_template(tmp_path / "t.xlsx", load_schema()) or tmp_path / "t.xlsx"
    wb = openpyxl.load_workbook(template)
    formulas = [
        c.coordinate for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]
    assert formulas == []
