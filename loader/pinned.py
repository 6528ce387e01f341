"""A file to upload, pinned to the one validation checked.

Validation decides that a file may be published: it lies inside the batch's
folder once every link is followed, and what it holds is fine. The file is
read again later (hashed when the run is planned, sent when its row runs),
and meanwhile a folder on its path can be swapped for a link to somewhere
else, or the file rewritten. So validation pins the file it checked (where
it really is, its device and inode, its size and modification time), and
every later read opens the path and then checks that the file opened is
that very file, unchanged, before reading a byte of it. Planning adds the
SHA-256 of its bytes, which the upload checks again as it streams them.

Plain values and the standard library only: validation, planning and the
client all use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Where Linux shows an open file's own name (a link that keeps reading the very file
# opened, whatever is later done to the path it was opened by).
_OPEN_FILES = Path("/proc/self/fd")


class Altered(Exception):
    """The file at a pinned path is not the file that was checked: another file (or a
    link to one) stands there now (`replaced`), or it changed since.

    Not an OSError, so that an HTTP stack reading the file lets it through
    rather than trying again."""

    def __init__(self, message: str, replaced: bool = False):
        super().__init__(message)
        self.message = message
        self.replaced = replaced


@dataclass(frozen=True)
class PinnedFile:
    """A file as it was checked: where it really is, which file it is, and (once
    planning has read it) the SHA-256 of its bytes."""

    path: Path  # every link followed
    device: int
    inode: int
    size: int
    modified_ns: int
    sha256: str | None = None

    def __str__(self) -> str:  # written as its path in actions and messages
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def open(self) -> BinaryIO:
        """The file, opened for reading, once it is shown to be the one pinned and
        unchanged; raises Altered when it is not (OSError when it cannot be opened)."""
        stream = self.path.open("rb")
        try:
            self.check(stream)
        except BaseException:
            stream.close()
            raise
        return stream

    def check(self, stream: BinaryIO) -> None:
        """Raise Altered unless `stream` is this very file, as it was when pinned."""
        status = os.fstat(stream.fileno())
        real = _real_path(stream)
        if (status.st_dev, status.st_ino) != (self.device, self.inode) or (
            real is not None and real != self.path
        ):
            raise Altered(
                f"the file {self.path} is no longer the file that was checked: another "
                "file, or a link to one, stands at its path now (was a folder on its way "
                "swapped for a link?); nothing of it was sent",
                replaced=True,
            )
        if (status.st_size, status.st_mtime_ns) != (self.size, self.modified_ns):
            how = (
                f"it was {self.size:,} bytes, now {status.st_size:,}"
                if status.st_size != self.size
                else "it was written to since"
            )
            raise Altered(
                f"the file {self.path} changed after it was checked ({how}); nothing of "
                "it was saved: run the row again to send it as it is now"
            )

    @contextlib.contextmanager
    def held(self) -> Iterator[Path]:
        """A path that reads this very file while inside, for readers that want a path.

        On Linux it is the open file's own name under /proc, which keeps reading
        the file checked whatever happens to its path; elsewhere it is the path,
        checked again when the reading is done."""
        with self.open() as stream:
            own = _OPEN_FILES / str(stream.fileno())
            if own.exists():
                yield own
                return
            yield self.path
            with self.open():
                pass


def pin(path: Path) -> PinnedFile:
    """Pin the file at `path` as it is now (links followed); OSError when it cannot be
    looked at."""
    real = path.resolve(strict=True)
    status = real.stat()
    return PinnedFile(real, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _real_path(stream: BinaryIO) -> Path | None:
    """Where the open file really is, when the system says (Linux); None elsewhere."""
    try:
        return Path(os.readlink(_OPEN_FILES / str(stream.fileno())))
    except OSError:
        return None
