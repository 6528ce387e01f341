"""What refusing a batch file built to exhaust memory costs: time and peak memory.

    .venv/bin/python benchmarks/bench_hostile.py [--megabytes 1300] [--source DIR]

Builds, in a temporary folder, files built to exhaust memory and runs
`bcdc-loader validate` on each in a child process, reporting the child's
wall time and peak memory (maximum resident set size), beside those of a
child that only starts the loader:

- strings.xlsx: a valid one-row batch whose shared-strings part unpacks to
  --megabytes of text (a 45 MB file of 1.3 GB once took 3.8 GB);
- far-cell.xlsx: the same batch plus one space at XFD1048576, which makes
  the reader lay out a grid of 17 billion cells;
- short-cells.csv: 104 MB of one-letter cells, under the 100 MiB file limit
  but 52 million cells (it once took 5.6 GB, then ran out of memory).

Each is run once more under a 1 GiB address-space limit (where, unguarded,
the reader panics or runs out of memory). Then the largest batch the limits
let through is checked: full.csv, 499,000 valid create rows of ten cells
(72 MB, 4,990,010 cells).

--source DIR runs the children on the loader package found in DIR (say an
older version, unpacked with `git archive REV loader | tar -x -C DIR`), to
compare before and after. Prints the figures; the committed output is
benchmarks/results/hostile.txt.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import openpyxl

HEADER = ["op", "package", "name", "url", "bcdc_type", "resource_update_cycle", "format"]
ROW = ["create", "d", "n", "https://example.com/a", "document", "annually", "csv"]
MiB = 1 << 20
LIMIT = 1 << 30  # the address-space limit of the constrained runs


def batch_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Batch"
    ws.append(HEADER)
    ws.append(ROW)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def strings_bomb(path: Path, megabytes: int) -> None:
    """A workbook whose sharedStrings.xml holds `megabytes` of text: each MiB some words,
    then padding, so that it packs about 30 times, as the issue's file did."""
    source = zipfile.ZipFile(io.BytesIO(batch_bytes()))
    words = [f"word{i}" for i in range(400)]
    rng = random.Random(1)
    text = "".join(f"<si><t>{' '.join(rng.choices(words, k=12))}</t></si>" for _ in range(2000))
    block_bytes = text.encode()[: 150 * 1024].ljust(MiB, b" ")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        with out.open("xl/sharedStrings.xml", "w") as part:
            part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            for _ in range(megabytes):
                part.write(block_bytes)
            part.write(b"</sst>")


def far_cell(path: Path) -> None:
    path.write_bytes(batch_bytes())
    wb = openpyxl.load_workbook(path)
    wb["Batch"]["XFD1048576"] = " "
    wb.save(path)


def short_cells(path: Path, size: int) -> None:
    """A CSV file of `size` bytes: a heading row, then rows of seven one-letter cells."""
    heading, row = ",".join(HEADER) + "\r\n", "a,b,c,d,e,f,g\r\n"
    rows = (size - len(heading)) // len(row)
    with path.open("w", newline="") as out:
        out.write(heading)
        for _ in range(rows // 10_000):
            out.write(row * 10_000)
        out.write(row * (rows % 10_000))


def full(path: Path, rows: int = 499_000) -> None:
    """The largest CSV batch the limits let through: `rows` valid rows of ten cells."""
    document = [
        *ROW[:5],
        "annually",
        "csv",
        "web or ftp site",
        "data",
        "direct access",
    ]
    heading = [
        *HEADER[:7],
        "resource_storage_location",
        "resource_type",
        "resource_access_method",
    ]
    with path.open("w", newline="") as out:
        out.write(",".join(heading) + "\r\n")
        for n in range(rows):
            cells = [*document[:2], f"Sites {n}", f"https://example.com/{n}", *document[4:]]
            out.write(",".join(cells) + "\r\n")


SOURCE: str | None = None  # a folder holding another loader package to run instead


def child(args: list[str], limit: int | None = None) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak MiB, last line of stderr) of one loader run in a child."""

    def constrain() -> None:
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONPATH": SOURCE} if SOURCE else None
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", "from loader.cli import main; main()", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=constrain,
            env=env,
            cwd=SOURCE,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - started
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / 1024, (lines or [""])[-1]


def main() -> None:
    global SOURCE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=1300)
    parser.add_argument("--source", help="run the loader package found in this folder")
    options = parser.parse_args()
    SOURCE = str(Path(options.source).resolve()) if options.source else None
    print(f"machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}")
    if SOURCE:
        print(f"loader from {SOURCE}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        strings_bomb(folder / "strings.xlsx", options.megabytes)
        far_cell(folder / "far-cell.xlsx")
        short_cells(folder / "short-cells.csv", 104_000_000)
        full(folder / "full.csv")
        built = time.perf_counter() - started
        size = (folder / "strings.xlsx").stat().st_size
        print(
            f"built in {built:.1f} s: strings.xlsx {size / MiB:.1f} MiB on disk, "
            f"{options.megabytes} MiB of strings unpacked; far-cell.xlsx "
            f"{(folder / 'far-cell.xlsx').stat().st_size / 1024:.1f} KiB; short-cells.csv "
            f"{(folder / 'short-cells.csv').stat().st_size / MiB:.1f} MiB; full.csv "
            f"{(folder / 'full.csv').stat().st_size / MiB:.1f} MiB"
        )
        code, seconds, peak, _ = child(["--version"])
        print(f"loader start only: {seconds:.2f} s, peak {peak:.0f} MiB")
        runs = [(name, limit) for name in HOSTILE for limit in (None, LIMIT)]
        # unguarded, short-cells.csv takes more memory than the machine has: at most 8 GiB
        runs += [("short-cells.csv", 8 * LIMIT), ("short-cells.csv", LIMIT), ("full.csv", None)]
        for name, limit in runs:
            code, seconds, peak, last = child(["validate", str(folder / name)], limit)
            where = f"{limit // LIMIT} GiB limit" if limit else "no limit"
            print(f"{name} ({where}): exit {code} in {seconds:.2f} s, peak {peak:.0f} MiB")
            print(f"  {last[:220]}")


HOSTILE = ("far-cell.xlsx", "strings.xlsx")


if __name__ == "__main__":
    main()
