"""Keychains for tests: an in-memory one that behaves as a system keychain does (keyring's
own backend tests check it, in test_keychain.py), and stand-ins for "no keychain".

No test ever reaches the machine's real keychain: conftest.py gives every test (and every
process a test starts) keyring's failing backend until the test sets one of these.
"""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors


class MemoryKeychain(keyring.backend.KeyringBackend):
    """A keychain held in a dict, as the system's would hold it."""

    priority = 5  # as keyring's real keychains rank

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not there")


class FileKeychain(MemoryKeychain):
    """A stand-in that would keep tokens in a plain file (keyring ranks those below 1)."""

    priority = 0.5


class LockedKeychain(MemoryKeychain):
    """A keychain that refuses to answer (locked, or access denied)."""

    def get_password(self, service, username):
        raise keyring.errors.KeyringLocked("the keychain is locked")
