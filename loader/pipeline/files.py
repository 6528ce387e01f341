"""Files to upload: what they hold, so an unchanged file is not sent again.

The loader records a file's SHA-256 on the resource it uploads to, in CKAN's
core `hash` field, written `sha256:<hex>`. The prefix matters: ckanext-xloader
and DataPusher compare `hash` with the MD5 of the file they fetch and skip
loading it into the DataStore when the two are equal, so a bare MD5 set in
advance would stop them loading a new file. After loading, they store their
MD5 in `hash`; a file whose MD5 matches that is the same file too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    """A local file's size and SHA-256, read once (its MD5 only when asked)."""

    path: Path
    size: int
    sha256: str

    @property
    def stored_hash(self) -> str:
        """The value the loader writes in a resource's `hash` field."""
        return f"sha256:{self.sha256}"

    def matches(self, resource: Mapping[str, Any]) -> bool:
        """Whether `resource` already holds this file (same size, same content)."""
        if resource.get("url_type") != "upload":
            return False
        try:
            size = int(resource.get("size") or -1)
        except (TypeError, ValueError):
            return False
        stored = resource.get("hash")
        if size != self.size or not stored:
            return False
        if stored == self.stored_hash:
            return True
        # a DataStore loader wrote its MD5 over ours
        return not str(stored).startswith("sha256:") and stored == _digest(self.path, "md5")


def file_facts(path: Path) -> FileFacts:
    """Read a file once for its size and SHA-256 (streamed: memory stays flat)."""
    return FileFacts(path, path.stat().st_size, _digest(path, "sha256"))


def _digest(path: Path, name: str) -> str:
    digest = hashlib.new(name, usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileBook:
    """The facts of a batch's files, each file read once."""

    def __init__(self) -> None:
        self._facts: dict[Path, FileFacts] = {}

    def read_ahead(self, paths: Iterable[Path], threads: int = 2) -> None:
        """Hash files ahead, two at a time (hashing leaves the other core free); a file
        that cannot be read now is left for `facts` to say why."""
        wanted = [p for p in dict.fromkeys(paths) if p not in self._facts]
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash") as pool:
            for path, facts in zip(wanted, pool.map(_facts_or_none, wanted), strict=True):
                if facts is not None:
                    self._facts[path] = facts

    def read_one(self, path: Path) -> None:
        """Hash one file ahead (from any thread); one that cannot be read now is left
        for `facts` to say why."""
        if path not in self._facts:
            facts = _facts_or_none(path)
            if facts is not None:
                self._facts[path] = facts

    def facts(self, path: Path) -> FileFacts:
        """A file's facts; raises OSError when it cannot be read."""
        if path not in self._facts:
            self._facts[path] = file_facts(path)
        return self._facts[path]


def _facts_or_none(path: Path) -> FileFacts | None:
    try:
        return file_facts(path)
    except OSError:
        return None
