"""`bcdc-loader login` against the local catalogue: the catalogue is asked whose a token
is, a good token is kept in the keychain (keyring's test backend, never the machine's)
and found there by the next command; a bad one is refused and not kept."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from integration.helpers import REQUIRED, write_batch
from loader.cli import main
from loader.keychain import SERVICE

pytestmark = pytest.mark.catalogue


def invoke(*args: str, typed: str | None = None):
    env = {"CKAN_API_KEY": "", "CKAN_URL": ""}
    return CliRunner().invoke(main, list(args), env=env, input=typed)


def test_a_good_token_is_kept_and_used_a_bad_one_is_refused(
    catalogue, keychain, make_package, tmp_path
):
    key = catalogue.url.rstrip("/")

    refused = invoke("login", "--ckan", catalogue.url, typed="not-a-real-token\n")
    assert refused.exit_code == 2, refused.output
    assert f"{catalogue.url} does not accept this token" in refused.output
    assert keychain.entries == {}

    kept = invoke("login", "--ckan", catalogue.url, typed=catalogue.editor_token + "\n")
    assert kept.exit_code == 0, kept.output
    assert (
        f"you are {catalogue.editor_name}; you may change the resources of the datasets of "
        f"{catalogue.editor_organization}." in kept.output
    )
    assert catalogue.editor_token not in kept.output
    assert keychain.entries == {(SERVICE, key): catalogue.editor_token}

    # the next command finds the token there: the dry run names the token's user
    package = make_package()
    batch = write_batch(
        tmp_path,
        {"op": "create", "package": package["name"], "name": "New",
         "url": "https://example.com/n", **REQUIRED},
    )  # fmt: skip
    out = tmp_path / "dry.xlsx"
    dry = invoke("run", str(batch), "--ckan", catalogue.url, "--dry-run", "-o", str(out))
    assert dry.exit_code == 0, dry.output
    assert "1 would be created" in dry.output

    gone = invoke("logout", "--ckan", catalogue.url)
    assert gone.exit_code == 0 and keychain.entries == {}
    again = invoke("run", str(batch), "--ckan", catalogue.url, "--dry-run")
    assert again.exit_code == 2 and "no API token" in again.output
