"""The token kept in the keychain, per catalogue, and the order commands look for a token.

Every test sets its own keyring backend (the in-memory one of keychains.py, checked
here by keyring's own backend tests, or keyring's stand-ins for "no keychain"); the
machine's real keychain is never touched.
"""

from __future__ import annotations

import keyring
import pytest
from keychains import FileKeychain, LockedKeychain, MemoryKeychain
from keyring.backends import chainer, fail
from keyring.testing.backend import BackendBasicTests

from loader.keychain import (
    SERVICE,
    NoKeychain,
    Token,
    TokenError,
    catalogue_key,
    find_token,
    forget_token,
    keychain_name,
    store_token,
    stored_token,
)

PROD = "https://catalogue.data.gov.bc.ca"
TEST = "https://cat.data.gov.bc.ca"


class TestTheMemoryKeychainKeepsTokensAsAKeychainDoes(BackendBasicTests):
    """keyring's own tests of a backend, run on the stand-in the other tests use."""

    def init_keyring(self):
        return MemoryKeychain()


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ("prod", PROD),
        ("PROD", PROD),
        ("https://catalogue.data.gov.bc.ca", PROD),
        ("https://catalogue.data.gov.bc.ca/", PROD),
        ("https://Catalogue.Data.Gov.BC.ca./", PROD),
        ("https://catalogue.data.gov.bc.ca:443/dataset", PROD),
        ("http://catalogue.data.gov.bc.ca", PROD),
        ("test", TEST),
        ("https://CAT.data.gov.bc.ca/", TEST),
        ("http://127.0.0.1:5555/", "http://127.0.0.1:5555"),
        ("http://LocalHost:5555", "http://localhost:5555"),
        ("https://ckan.example.org:443/data/", "https://ckan.example.org/data"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_one_keychain_entry_per_catalogue_however_its_address_is_written(target, key):
    assert catalogue_key(target) == key


def test_a_token_is_kept_per_catalogue(keychain):
    assert store_token("prod", " prod-token\n") == PROD
    store_token("test", "test-token")

    assert keychain.entries == {(SERVICE, PROD): "prod-token", (SERVICE, TEST): "test-token"}
    assert stored_token("https://Catalogue.Data.Gov.BC.ca./") == "prod-token"
    assert stored_token("https://cat.data.gov.bc.ca") == "test-token"
    assert stored_token("http://127.0.0.1:5555") is None

    store_token("https://catalogue.data.gov.bc.ca/", "new-prod-token")  # one entry, replaced
    assert keychain.entries[(SERVICE, PROD)] == "new-prod-token"
    assert len(keychain.entries) == 2


def test_forgetting_removes_only_that_catalogues_token(keychain):
    store_token("prod", "prod-token")
    store_token("test", "test-token")

    assert forget_token("https://catalogue.data.gov.bc.ca") is True
    assert stored_token("prod") is None
    assert stored_token("test") == "test-token"
    assert forget_token("prod") is False  # nothing left to remove


def test_the_token_is_looked_for_in_the_file_then_the_environment_then_the_keychain(
    keychain, tmp_path
):
    store_token("prod", "from-keychain")
    key_file = tmp_path / "token.txt"
    key_file.write_text("from-file\n")
    environ = {"CKAN_API_KEY": "from-environment"}
    asked: list[str] = []

    def prompt() -> str:
        asked.append("asked")
        return "from-prompt"

    def found(*args, **kwargs) -> tuple[str, str] | None:
        token = find_token(*args, **kwargs)
        return (token.value, token.source) if token else None

    assert found("prod", key_file, environ=environ, prompt=prompt) == (
        "from-file",
        f"--api-key-file {key_file}",
    )
    assert found("prod", None, environ=environ, prompt=prompt) == (
        "from-environment",
        "$CKAN_API_KEY",
    )
    assert found("prod", None, environ={"CKAN_API_KEY": " "}, prompt=prompt) == (
        "from-keychain",
        "the keychain",
    )
    assert asked == []  # the prompt comes last, only when nothing else gave a token
    assert found("test", None, environ={}, prompt=prompt) == ("from-prompt", "the prompt")
    assert asked == ["asked"]
    assert found("test", None, environ={}) is None  # a command that only reads: no prompt
    assert found(None, None, environ={}) is None  # no catalogue named: no keychain entry


def test_a_token_file_that_gives_no_token_is_an_error_not_passed_over(keychain, tmp_path):
    store_token("prod", "from-keychain")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(TokenError, match="holds no token"):
        find_token("prod", empty, environ={"CKAN_API_KEY": "from-environment"})
    with pytest.raises(TokenError, match="Cannot read a token from"):
        find_token("prod", tmp_path / "missing.txt", environ={})


NO_KEYCHAIN = (
    "this machine has no keychain (as on a server with no desktop session), and the loader "
    "never writes a token anywhere else. Keep the token in a file only you can read and "
    "give it with --api-key-file FILE, or set $CKAN_API_KEY."
)


@pytest.mark.parametrize("kind", ["fail", "empty chainer", "file"])
def test_without_a_keychain_keeping_a_token_says_so_and_writes_it_nowhere(kind, monkeypatch):
    stand_in = FileKeychain()
    if kind == "fail":
        keyring.set_keyring(fail.Keyring())
    elif kind == "empty chainer":  # what keyring chooses on a server: nothing to chain
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        keyring.set_keyring(chainer.ChainerBackend())
    else:
        keyring.set_keyring(stand_in)

    assert keychain_name() is None
    with pytest.raises(NoKeychain) as refused:
        store_token("prod", "secret-token")
    assert str(refused.value) == f"Cannot keep the token for {PROD}: {NO_KEYCHAIN}"
    assert refused.value.exit_code == 2
    with pytest.raises(NoKeychain, match="Cannot remove the token for https://cat.data"):
        forget_token("test")
    assert stand_in.entries == {}
    # looking up is no error: the keychain is passed over, the prompt comes next
    assert stored_token("prod") is None
    token = find_token("prod", None, environ={}, prompt=lambda: "typed")
    assert token is not None and token.source == "the prompt"


def test_a_keychain_that_refuses_to_answer_is_an_error_when_reached(monkeypatch):
    keyring.set_keyring(LockedKeychain())
    with pytest.raises(TokenError, match=f"did not give the token for {PROD}: the keychain is"):
        find_token("prod", None, environ={})
    token = find_token("prod", None, environ={"CKAN_API_KEY": "from-environment"})
    assert token is not None and token.value == "from-environment"  # never reached


def test_a_token_never_shows_in_its_representation():
    token = Token("tok-0123456789", "the keychain")
    assert "tok-0123456789" not in repr(token)
    assert "the keychain" in repr(token)


def test_the_keychain_is_named_when_there_is_one(keychain):
    assert keychain_name() == MemoryKeychain.name
