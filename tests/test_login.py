"""`login` and `logout`, and where every command looks for its token, with a keyring test
backend (keychains.py) and a stand-in catalogue; never the machine's keychain.

The same against the real local catalogue: tests/integration/test_login.py.
"""

from __future__ import annotations

import pytest
from batches import DOCUMENT, write_batch
from click.testing import CliRunner

from loader.cli import main
from loader.client import NotAuthorized, Permissions
from loader.keychain import SERVICE

URL = "https://ckan.example.org"
GOOD = "tok-good-0123456789"


class StandIn:
    """A catalogue that accepts GOOD only; records the tokens it was given."""

    given: list[str | None] = []

    def __init__(self, url: str, api_key: str | None = None, allow_http: bool = False):
        self.url = url
        StandIn.given.append(api_key)
        self.api_key = api_key

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def close(self) -> None:
        pass

    def permissions(self) -> Permissions:
        if self.api_key != GOOD:
            raise NotAuthorized("user_show: not authorized")
        return Permissions(
            "bcdc-editor",
            organizations=frozenset({"org-1"}),
            organization_names=("information-management-cfd",),
        )

    def user(self) -> dict:
        self.permissions()
        return {"name": "bcdc-editor"}


@pytest.fixture(autouse=True)
def stand_in(monkeypatch):
    StandIn.given = []
    monkeypatch.setattr("loader.client.Catalogue", StandIn)
    monkeypatch.setattr("loader.cli.access.Catalogue", StandIn)
    return StandIn


def invoke(*args: str, env: dict[str, str] | None = None, typed: str | None = None):
    env = {"CKAN_API_KEY": "", "CKAN_URL": "", **(env or {})}
    return CliRunner().invoke(main, list(args), env=env, input=typed)


def test_login_asks_once_checks_the_token_and_keeps_it_for_that_catalogue(keychain):
    result = invoke("login", "--ckan", URL + "/", typed=GOOD + "\n")

    assert result.exit_code == 0, result.output
    assert f"API token for {URL} (your account page" in result.output  # the prompt
    assert GOOD not in result.output  # hidden input: never echoed
    assert (
        f"{URL} accepts the token: you are bcdc-editor; you may change the resources of "
        "the datasets of information-management-cfd." in result.output
    )
    assert f"Kept in the keychain (keychains MemoryKeychain) for {URL};" in result.output
    assert keychain.entries == {(SERVICE, URL): GOOD}
    assert StandIn.given == [GOOD]


def test_a_token_the_catalogue_refuses_is_not_kept(keychain):
    keychain.entries[(SERVICE, URL)] = GOOD  # kept earlier: a bad one does not replace it

    result = invoke("login", "--ckan", URL, typed="tok-wrong\n")

    assert result.exit_code == 2
    assert f"{URL} does not accept this token" in result.output
    assert "it was not kept" in result.output
    assert keychain.entries == {(SERVICE, URL): GOOD}


def test_without_a_keychain_login_says_so_before_asking_for_the_token():
    result = invoke("login", "--ckan", URL, typed=GOOD + "\n")

    assert result.exit_code == 2
    assert "this machine has no keychain" in result.output
    assert "--api-key-file FILE" in result.output
    assert "API token for" not in result.output  # never asked: nowhere to keep it
    assert StandIn.given == []


def test_logout_removes_only_that_catalogues_token(keychain):
    keychain.entries[(SERVICE, URL)] = GOOD
    keychain.entries[(SERVICE, "https://cat.data.gov.bc.ca")] = "test-token"

    first = invoke("logout", "--ckan", URL)
    again = invoke("logout", "--ckan", URL)

    assert first.exit_code == 0 and f"Removed the token for {URL}" in first.output
    assert again.exit_code == 0 and f"The keychain held no token for {URL}" in again.output
    assert keychain.entries == {(SERVICE, "https://cat.data.gov.bc.ca"): "test-token"}
    assert invoke("logout").exit_code == 2  # which catalogue? --ckan or CKAN_URL


def test_logout_without_a_keychain_says_so():
    result = invoke("logout", "--ckan", URL)
    assert result.exit_code == 2 and "this machine has no keychain" in result.output


def test_a_command_takes_the_token_from_the_file_then_the_environment_then_the_keychain(
    keychain, tmp_path
):
    keychain.entries[(SERVICE, URL)] = "from-keychain"
    key_file = tmp_path / "token.txt"
    key_file.write_text("from-file\n")
    batch = write_batch(tmp_path, DOCUMENT)
    run = ("run", str(batch), "--ckan", URL, "--dry-run", "-q")

    invoke(*run, "--api-key-file", str(key_file), env={"CKAN_API_KEY": "from-environment"})
    invoke(*run, env={"CKAN_API_KEY": "from-environment"})
    invoke(*run)
    invoke("export", "--ckan", URL, "--package", "p")  # a command that only reads, too
    invoke(*run, "--ckan", "https://other.example.org")  # no entry for that catalogue

    assert StandIn.given == ["from-file", "from-environment", "from-keychain", "from-keychain"]


def test_with_no_token_anywhere_a_command_that_writes_says_where_to_put_one(tmp_path):
    batch = write_batch(tmp_path, DOCUMENT)
    result = invoke("run", str(batch), "--ckan", URL)
    assert result.exit_code == 2
    assert f"no API token: keep one in the keychain with `bcdc-loader login --ckan {URL}`" in (
        result.output
    )
