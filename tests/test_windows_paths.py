"""Upload paths written on Windows, read on another system: `files\\sites.csv` is a path
(unless a file of that very name exists), and `C:\\...` or `\\\\server\\...` says what
happened and what to write instead. The page resolves them the same way."""

from __future__ import annotations

import os

import pytest
from batches import DOCUMENT, write_batch

from loader.run import check_batch
from loader.serve import library

pytestmark = pytest.mark.skipif(os.sep == "\\", reason="on Windows these are its own paths")


def upload_row(upload: str, name: str = "Sites") -> dict[str, str]:
    return {**DOCUMENT, "name": name, "url": "", "upload": upload}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "files" / "2024").mkdir(parents=True)
    (tmp_path / "files" / "2024" / "sampling-results-2024.csv").write_text("site,value\nA,1\n")
    (tmp_path / "files" / "sites.csv").write_text("site,name\n1,Victoria\n")
    return tmp_path


def test_backslashes_in_a_relative_path_read_as_folders(folder):
    path = write_batch(
        folder,
        upload_row("files\\2024\\sampling-results-2024.csv"),
        upload_row(".\\files\\sites.csv", name="Sites 2"),
    )

    result = check_batch(path)

    assert result.problems == [] and result.exit_code == 0
    assert [o.action for o in result.outcomes] == [
        f"create from file {folder / 'files' / '2024' / 'sampling-results-2024.csv'}",
        f"create from file {folder / 'files' / 'sites.csv'}",
    ]


def test_a_file_whose_name_holds_the_backslash_is_the_one_meant(folder):
    odd = folder / "files\\sites.csv"  # one file, its name holding a backslash
    odd.write_text("site,name\n2,Nanaimo\n")
    path = write_batch(folder, upload_row("files\\sites.csv"))

    result = check_batch(path)

    assert result.problems == []
    assert result.outcomes[0].action == f"create from file {odd}"


def test_a_backslash_path_still_may_not_leave_the_batchs_folder(folder):
    batch_folder = folder / "files"
    path = write_batch(batch_folder, upload_row("..\\..\\secret.csv"))
    (folder.parent / "secret.csv").write_text("a,b\n1,2\n")

    (problem,) = check_batch(path).problems

    assert problem.code == "upload-outside"


@pytest.mark.parametrize(
    ("written", "where", "hint"),
    [
        (
            "C:\\Users\\ann\\Batches\\files\\2024\\sampling-results-2024.csv",
            "drive C:",
            ": the file is found there as 'files\\2024\\sampling-results-2024.csv', so write that",
        ),
        (
            "d:/Batches/files/sites.csv",
            "drive D:",
            ": the file is found there as 'files\\sites.csv', so write that",
        ),
        (
            "\\\\fileserver\\shared\\data\\other.csv",
            "a network folder",
            ", with the file in that folder or below it (for a file beside the batch, "
            "'other.csv'; in a folder 'files' there, 'files\\other.csv')",
        ),
    ],
)
def test_an_absolute_windows_path_says_what_happened_and_what_to_write(
    folder, written, where, hint
):
    path = write_batch(folder, upload_row(written))

    (problem,) = check_batch(path).problems

    assert problem.code == "upload-windows-path"
    assert problem.column == "upload"
    assert problem.message == (
        f"Row 2, column 'upload': '{written}' is a path on a Windows computer ({where}); "
        "this computer runs another system and cannot reach it. Write the file's path from "
        f"the batch's folder instead{hint}"
    )


def test_the_page_counts_the_bytes_of_a_backslash_path_as_the_check_finds_the_file(folder):
    path = write_batch(folder, upload_row("files\\sites.csv"), upload_row("C:\\x.csv", "X"))

    checked = library.check(path, library.check_options(None))

    assert [p.code for p in checked.problems] == ["upload-windows-path"]
    assert library.upload_sizes(checked, path) == {
        2: (folder / "files" / "sites.csv").stat().st_size
    }
