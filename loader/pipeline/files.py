"""Files to upload: what they hold, so an unchanged file is not sent again.

The loader records a file's SHA-256 on the resource it uploads to, in CKAN's
core `hash` field, written `sha256:<hex>`. The prefix matters: ckanext-xloader
and DataPusher compare `hash` with the MD5 of the file they fetch and skip
loading it into the DataStore when the two are equal, so a bare MD5 set in
advance would stop them loading a new file. After loading, they store their
MD5 in `hash`; a file whose MD5 matches that is the same file too.

Files are read as validation pinned them (`loader.pinned`): a file replaced
or changed since it was checked is not hashed. The hash goes with the pinned
file to the upload, which checks the bytes it streams against it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.pinned import Altered, PinnedFile, pin

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    """A local file's size and SHA-256, read once (its MD5 only when asked), and the
    file itself, pinned with that hash: the upload sends exactly those bytes."""

    file: PinnedFile  # its sha256 set

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def size(self) -> int:
        return self.file.size

    @property
    def sha256(self) -> str:
        return self.file.sha256 or ""

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
        return not str(stored).startswith("sha256:") and stored == _digest(self.file, "md5")


def file_facts(file: PinnedFile | Path) -> FileFacts:
    """Read a file once for its SHA-256 (streamed: memory stays flat). A pinned file is
    read only if it is still the file checked, unchanged to the end (else Altered);
    a path is pinned as it is now."""
    pinned = file if isinstance(file, PinnedFile) else pin(file)
    return FileFacts(dataclasses.replace(pinned, sha256=_digest(pinned, "sha256")))


def _digest(file: PinnedFile, name: str) -> str:
    digest = hashlib.new(name, usedforsecurity=False)
    with file.open() as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
        status = os.fstat(stream.fileno())
    if (status.st_size, status.st_mtime_ns) != (file.size, file.modified_ns):
        raise Altered(
            f"the file {file.path} changed while it was read to be hashed; nothing of it "
            "was saved: run the row again once it is whole"
        )
    return digest.hexdigest()


class FileBook:
    """The facts of a batch's files, each file read once."""

    def __init__(self) -> None:
        self._facts: dict[Path, FileFacts] = {}

    def read_ahead(self, files: Iterable[PinnedFile], threads: int = 2) -> None:
        """Hash files ahead, two at a time (hashing leaves the other core free); a file
        that cannot be read now, or is not the one checked, is left for `facts` to say why."""
        wanted = [f for f in {f.path: f for f in files}.values() if f.path not in self._facts]
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash") as pool:
            for file, facts in zip(wanted, pool.map(_facts_or_none, wanted), strict=True):
                if facts is not None:
                    self._facts[file.path] = facts

    def read_one(self, file: PinnedFile) -> None:
        """Hash one file ahead (from any thread); one that cannot be read now, or is
        not the one checked, is left for `facts` to say why."""
        if file.path not in self._facts:
            facts = _facts_or_none(file)
            if facts is not None:
                self._facts[file.path] = facts

    def facts(self, file: PinnedFile) -> FileFacts:
        """A file's facts; raises OSError when it cannot be read, Altered when it is not
        the file checked."""
        if file.path not in self._facts:
            self._facts[file.path] = file_facts(file)
        return self._facts[file.path]


def _facts_or_none(file: PinnedFile) -> FileFacts | None:
    try:
        return file_facts(file)
    except (OSError, Altered):
        return None
