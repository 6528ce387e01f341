"""A file is recorded as the bytes the catalogue got, or its row fails: files rewritten,
or swapped for others, between the check and the upload (local catalogue).

The loader is made to hear each upload's bytes as they go (`Listeners.on_bytes`);
the tests change the files on disk at chosen moments from that listener, as another
program or person could while a long batch runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from integration.helpers import REQUIRED, resources_of, write_batch
from loader.client import Catalogue
from loader.options import Listeners, RunOptions
from loader.run import run_batch

pytestmark = pytest.mark.catalogue

MiB = 1 << 20


def table(size: int, word: str) -> bytes:
    """A CSV file of about `size` bytes whose cells say `word`."""
    line = f"{word},1,2,3\n".encode()
    return b"id,a,b,c\n" + line * (size // len(line))


def upload_row(package: dict, name: str, upload: str, op: str = "create") -> dict[str, str]:
    return {"op": op, "package": package["name"], "name": name, "upload": upload, **REQUIRED}


def stored(catalogue, package: dict, tmp_path: Path) -> dict[str, tuple[str, set[str]]]:
    """Each uploaded resource of the dataset: (its recorded hash, the hashes that name the
    bytes the catalogue serves: the loader's SHA-256, or the MD5 the DataStore's load
    writes over it once it has loaded the file)."""
    admin = Catalogue(catalogue.url, catalogue.admin_token)
    out = {}
    for resource in resources_of(catalogue, package["id"]):
        copy = tmp_path / f"download-{resource['id']}"
        admin.download(resource["url"], copy)
        data = copy.read_bytes()
        names = {"sha256:" + hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()}
        out[resource["name"]] = (resource.get("hash"), names)
    return out


def rewrite(path: Path, how: str) -> None:
    """Change a file as another program might: to a new size, or in place with its
    modification time put back (so only its content tells)."""
    if how == "new size":
        path.write_bytes(table(3 * MiB, "new"))
        return
    status = path.stat()
    with path.open("r+b") as stream:
        stream.seek(status.st_size - 4096)
        tail = stream.read()
        stream.seek(status.st_size - 4096)
        stream.write(tail.replace(b"old", b"new"))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


@pytest.mark.parametrize("how", ["new size", "same size, time put back"])
@pytest.mark.parametrize("when", ["before it is sent", "while it is sent"])
def test_a_file_changed_after_it_was_checked_is_never_recorded_as_the_old_one(
    catalogue, make_package, tmp_path, when, how
):
    package = make_package()
    first = tmp_path / "first.csv"
    first.write_bytes(table(MiB, "first"))
    changing = tmp_path / "a.csv"
    changing.write_bytes(table(2 * MiB, "old"))
    batch = write_batch(
        tmp_path,
        upload_row(package, "First", "first.csv", op="upsert"),
        upload_row(package, "A", "a.csv", op="upsert"),
    )
    # before: while the first file is sent; while: once a.csv's own bytes flow
    start = 0 if when == "before it is sent" else first.stat().st_size + 256 * 1024
    heard = 0

    def on_bytes(count: int) -> None:
        nonlocal heard
        heard += count
        if heard > start and heard - count <= start:
            rewrite(changing, how)

    client = Catalogue(catalogue.url, catalogue.editor_token)
    result = run_batch(batch, client, listeners=Listeners(on_bytes=on_bytes))

    first_row, changed_row = result.outcomes
    assert first_row.status == "done", first_row.error
    assert changed_row.status == "failed" and changed_row.code == "file-changed", changed_row
    assert str(changing) in changed_row.error and "nothing of it was saved" in changed_row.error
    held = stored(catalogue, package, tmp_path)
    assert list(held) == ["First"]  # nothing of a.csv reached the catalogue
    assert held["First"][0] in held["First"][1]

    again = run_batch(batch, client)  # next month: the file now holds what it holds

    assert [o.status for o in again.outcomes] == ["done", "done"], again.outcomes
    assert again.outcomes[0].action == "no change (file unchanged)"
    assert again.outcomes[1].action.startswith("created resource 'A' from file")
    recorded, served = stored(catalogue, package, tmp_path)["A"]
    assert recorded in served
    assert "sha256:" + hashlib.sha256(changing.read_bytes()).hexdigest() in served


@pytest.mark.parametrize("when", ["before planning", "after planning"])
def test_a_folder_swapped_for_a_link_during_the_run_publishes_nothing_from_outside(
    catalogue, make_package, tmp_path, monkeypatch, when
):
    package = make_package()
    folder = tmp_path / "batch"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "sites.csv").write_text("site,value\nA,1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sites.csv").write_text("secret,value\nkey,hunter2\n")
    batch = write_batch(folder, upload_row(package, "Sites", "data/sites.csv"))

    def swap() -> None:
        (folder / "data").rename(folder / "data-checked")
        (folder / "data").symlink_to(outside, target_is_directory=True)

    if when == "before planning":  # validation looked at the real folder; planning reads
        from loader.pipeline.plan import Planner as Swapped

        method = "by_dataset"  # how a run plans: a dataset at a time
    else:  # planning hashed the file; its dataset's calls are about to go
        from loader.pipeline.execute import _Lane as Swapped

        method = "run"
    original = getattr(Swapped, method)

    def swapped_first(self, *args, **kwargs):
        swap()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Swapped, method, swapped_first)
    client = Catalogue(catalogue.url, catalogue.editor_token)

    result = run_batch(batch, client, RunOptions())

    (outcome,) = result.outcomes
    assert outcome.status == "failed" and outcome.code == "file-replaced", outcome
    assert "is no longer the file that was checked" in outcome.error
    assert resources_of(catalogue, package["id"]) == []
