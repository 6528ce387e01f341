"""A CSV batch is held to the limits a workbook is held to, and read in bounded memory.

A CSV file of short cells under the 100 MB size limit once took 5.7 GB to read
(104 MB): its text was decoded whole and every row made before anything was
counted. These tests build such files and look at what the reader does with
them: the refusal (on the command line and on the page), and the memory it
takes, measured in a child process with tracemalloc so that nothing else this
test run has allocated counts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from batches import DOCUMENT
from click.testing import CliRunner

from loader.cli import main
from loader.errors import BatchError
from loader.pipeline import read
from loader.pipeline.read import read_batch
from loader.pipeline.workbook import MAX_CELLS, MAX_COLUMNS, MAX_ROWS

HEADER = "op,package,name,url,bcdc_type,resource_update_cycle,format\r\n"
SHORT = "a,b,c,d,e,f,g\r\n"  # seven one-letter cells: the most cells a byte buys


def short_cells(path: Path, rows: int) -> Path:
    """A CSV file of `rows` rows of seven one-letter cells under a heading row."""
    with path.open("w", newline="", encoding="utf-8") as out:
        out.write(HEADER)
        block = SHORT * 10_000
        for _ in range(rows // 10_000):
            out.write(block)
        out.write(SHORT * (rows % 10_000))
    return path


def valid_rows(path: Path, rows: int) -> Path:
    """A CSV file of `rows` valid create rows, each of ten cells, two of them unique."""
    with path.open("w", newline="", encoding="utf-8") as out:
        out.write(",".join(DOCUMENT) + "\r\n")
        for n in range(rows):
            row = {**DOCUMENT, "name": f"Sampling sites {n}", "url": f"https://example.com/{n}"}
            out.write(",".join(row.values()) + "\r\n")
    return path


def peak_of_reading(path: Path) -> tuple[float, str]:
    """(peak MiB that reading `path` allocated, what it read or the refusal), in a child."""
    script = textwrap.dedent(
        f"""
        import tracemalloc
        from pathlib import Path
        from loader.errors import BatchError
        from loader.pipeline.read import read_batch
        from loader.schema import load_schema
        schema = load_schema()
        tracemalloc.start()
        try:
            said = f"{{len(read_batch(Path({str(path)!r}), schema=schema).rows)}} rows"
        except BatchError as error:
            said = error.message
        print(tracemalloc.get_traced_memory()[1] / 2**20)
        print(said)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    peak, said = done.stdout.split("\n", 1)
    return float(peak), said.strip()


def test_a_csv_past_the_cell_limit_is_refused_saying_where(tmp_path):
    rows = MAX_CELLS // 7 + 1  # the first row number past the limit (the heading is row 1)
    path = short_cells(tmp_path / "big.csv", rows + 1000)
    with pytest.raises(BatchError) as refused:
        read_batch(path)
    assert refused.value.code == "too-large"
    assert refused.value.message == (
        f"big.csv is too large to load: by row {rows:,}, with rows up to 7 cells wide, "
        f"it makes a grid of {rows * 7:,} cells, when the loader reads up to 5,000,000. "
        "It was read no further and nothing was loaded; split it into smaller batches."
    )


def test_a_csv_past_the_row_or_column_limit_is_refused(tmp_path):
    tall = tmp_path / "tall.csv"
    tall.write_text("op\n" + "patch\n" * MAX_ROWS)  # one row more than a sheet holds
    with pytest.raises(BatchError, match=r"it holds more than 1,048,576 rows, the most a "):
        read_batch(tall)
    wide = tmp_path / "wide.csv"
    wide.write_text("op,package\npatch,d" + ",x" * (MAX_COLUMNS - 1) + "\n")
    with pytest.raises(BatchError, match=r"row 2 holds 16,385 cells, when a spreadsheet row "):
        read_batch(wide)


def test_a_csv_just_under_the_limits_is_read(tmp_path):
    path = tmp_path / "full.csv"  # 1,000,000 rows of 5 cells, the heading's included
    path.write_text("op,package,name,format,url\n" + "patch,d,n,,\n" * (MAX_CELLS // 5 - 1))
    assert len(read_batch(path).rows) == MAX_CELLS // 5 - 1


def test_the_command_line_refuses_a_csv_past_the_limits_with_its_message(tmp_path):
    path = short_cells(tmp_path / "big.csv", 2 * MAX_CELLS // 7)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "big.csv is too large to load: by row 714,286" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_the_page_refuses_a_csv_past_the_limits_with_its_message(tmp_path):
    from loader.serve.app import create_app
    from loader.serve.workspace import Workspace

    folder = tmp_path / "batches"
    folder.mkdir()
    big = short_cells(folder / "big.csv", 2 * MAX_CELLS // 7)
    workspace = Workspace(folder, None)
    client = create_app(workspace, "s3cret-for-tests").test_client()
    assert client.get("/?secret=s3cret-for-tests").status_code == 303
    message = "big.csv is too large to load: by row 714,286, with rows up to 7 cells wide"
    try:
        # a batch in the page's folder, and the same file dropped on the page
        listed = workspace.folder_batches()[0]
        with big.open("rb") as stream:
            dropped = client.post(
                "/drop",
                data={"batch": (stream, "big.csv")},
                headers={"Origin": "http://localhost"},
                content_type="multipart/form-data",
            )
        assert dropped.status_code == 303
        for entry in (listed, workspace.dropped_batches()[0]):
            response = client.get(f"/batch/{entry.id}")
            assert response.status_code == 200
            assert message in response.get_data(as_text=True)
    finally:
        workspace.close()


def test_a_csv_past_the_limits_is_refused_in_flat_memory(tmp_path):
    path = short_cells(tmp_path / "big.csv", 1_500_000)  # 21 MB, 10.5 million cells
    peak, said = peak_of_reading(path)
    assert said.startswith("big.csv is too large to load")
    # the file was never held: a chunk of it at a time (before: about 1 GB)
    assert peak < 16, f"refusing it took {peak:.1f} MiB"


def test_a_large_csv_under_the_limits_is_read_in_bounded_memory(tmp_path):
    path = valid_rows(tmp_path / "large.csv", 100_000)  # 14 MB, a million cells
    peak, said = peak_of_reading(path)
    assert said == "100000 rows"
    # measured: 61 MiB; before the reader streamed and shared repeated texts, 167 MiB
    assert peak < 120, f"reading it took {peak:.1f} MiB"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_the_encoding_is_judged_the_same_whatever_the_chunk_size(tmp_path, monkeypatch, chunk):
    # the file is looked at a chunk at a time: a character cut by a chunk's end must
    # not change the verdict, nor the places the refusal names
    samples = {
        "utf8.csv": "op,name\r\npatch,Café €😀\r\n".encode(),
        "marked.csv": b"\xef\xbb\xbf" + "op,name\r\npatch,Résumé\r\n".encode(),
        "windows.csv": "op,name\r\npatch,Résumé\r\n".encode("cp1252"),
        "mixed.csv": "op,name\r\npatch,Café\r\n".encode() + "patch,Résumé\r\n".encode("cp1252"),
        "mixed-late.csv": "op,name\r\npatch,R\xe9\r\n".encode("latin-1") + "€".encode(),
        "marked-windows.csv": b"\xef\xbb\xbfop,name\r\npatch,R\xe9sum\xe9\r\n",
        "cut.csv": b"op,name\r\npatch,x\r\n" + "€".encode()[:2],
        "neither.csv": b"op,name\r\npatch,\x81\x8d\r\n",
    }

    def verdict(path: Path) -> str:
        try:
            encoding = read._encoding(path)
        except BatchError as error:
            return error.message
        return path.read_bytes().decode(encoding)

    expected = {}
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
        expected[name] = verdict(tmp_path / name)
    monkeypatch.setattr(read, "_CHUNK", chunk)
    assert {name: verdict(tmp_path / name) for name in samples} == expected
    assert expected["utf8.csv"] == "op,name\r\npatch,Café €😀\r\n"
    assert expected["windows.csv"] == "op,name\r\npatch,Résumé\r\n"
    assert "mixed.csv mixes two text encodings: line 2 holds UTF-8 text" in expected["mixed.csv"]
    assert (
        "line 3 holds bytes that are not UTF-8 (0xE9 in 'patch,R\\xe9sum\\xe9')"
        in (expected["mixed.csv"])
    )
    assert (
        "line 3 holds UTF-8 text ('€'), but line 2 holds bytes that are not UTF-8 (0xE9"
        in (expected["mixed-late.csv"])
    )
    assert "line 1 holds UTF-8 text (its UTF-8 mark)" in expected["marked-windows.csv"]
    assert expected["cut.csv"].endswith("x\r\nâ‚")  # no UTF-8 in it: Windows-1252
    assert "neither UTF-8 nor Windows-1252" in expected["neither.csv"]
