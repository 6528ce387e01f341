"""What looking inside a large upload costs: pre-flight of a 1 GiB CSV, time and peak memory.

    .venv/bin/python benchmarks/bench_preflight.py [--megabytes 1024] [--frictionless PYTHON]

Writes a CSV of --megabytes (nine columns, one quoted cell holding a comma,
like a monitoring export) in a temporary folder, then runs each of these in a
child process of its own, reporting the child's wall time, its CPU time (user
and system: steadier than wall time on a shared machine) and peak resident
memory (the whole process, from os.wait4):

- start only: a child that imports the checker and stops;
- pre-flight: the content check of the file (`contents.look_inside`);
- hash: the SHA-256 the planner takes of each file to upload (`files.file_facts`);
- pre-flight + hash: both in one read of the file (the check hands each chunk
  it reads to the hash), to weigh sharing the read;
- validate: `bcdc-loader validate` of a one-row batch uploading the file.

With --frictionless PYTHON (an interpreter that has frictionless 5 installed),
frictionless's `validate` is timed on the first 100 MB of the file too, beside
the pre-flight of the same 100 MB. The parent stays small (a child's peak
memory counts what the parent held when it started the child). The file stays
in the page cache throughout: these are reads from memory, not from disk. The
committed output is benchmarks/results/preflight.txt.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
HEADER = "station_id,sampled_at,latitude,longitude,parameter,value,unit,flag,comment\r\n"
PARAMETERS = ("dissolved oxygen", "temperature", "pH", "turbidity", "conductivity")

START = "import loader.pipeline.validate.contents"
PREFLIGHT = (
    "import sys; from pathlib import Path; from loader.pipeline.validate.contents import "
    "look_inside; found = look_inside(Path(sys.argv[1]), 'csv'); assert not found, found"
)
HASH = "import sys; from pathlib import Path; from loader.pipeline.files import file_facts; " + (
    "file_facts(Path(sys.argv[1]))"
)
BOTH = (
    "import hashlib, sys; from pathlib import Path; from loader.pipeline.validate.contents "
    "import look_inside; digest = hashlib.sha256(); "
    "found = look_inside(Path(sys.argv[1]), 'csv', on_chunk=digest.update); assert not found"
)
FRICTIONLESS = (
    "import os, sys; from frictionless import validate; os.chdir(os.path.dirname(sys.argv[1])); "
    "report = validate(os.path.basename(sys.argv[1])); assert report.valid, report.flatten()"
)
BATCH = (
    "op,package,name,upload,bcdc_type,resource_update_cycle,format,resource_storage_location,"
    "resource_type,resource_access_method\r\ncreate,water-quality,Results,{name},document,"
    "monthly,csv,bc geographic warehouse,data,direct access\r\n"
)


def write_csv(path: Path, megabytes: int) -> None:
    """A CSV of about `megabytes` MiB, written a block of 20,000 rows at a time."""
    rows = []
    for i in range(20_000):
        rows.append(
            f"BC{i % 5000:05d},2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00,"
            f"{48 + (i % 997) / 997:.6f},{-123 - (i % 991) / 991:.6f},{PARAMETERS[i % 5]},"
            f'{(i % 2000) / 100:.2f},mg/L,checked,"Routine sample, upstream of weir"\r\n'
        )
    block = "".join(rows).encode()
    with path.open("wb") as out:
        out.write(HEADER.encode())
        for _ in range(max(1, megabytes * MiB // len(block))):
            out.write(block)


def child(args: list[str]) -> tuple[int, float, float, float]:
    """(exit code, seconds, CPU seconds, peak MiB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace").strip()
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(f"  failed ({code}): {error[-400:]}")
    return code, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def show(label: str, figures: tuple[int, float, float, float], size: int | None = None) -> None:
    code, seconds, cpu, peak = figures
    rate = f", {size / MiB / cpu:4.0f} MiB per CPU second" if size else ""
    print(
        f"{label:>28}: {seconds:5.1f} s ({cpu:5.1f} s CPU), peak {peak:3.0f} MiB{rate}"
        + (" FAILED" if code else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--frictionless", metavar="PYTHON", help="a Python with frictionless")
    options = parser.parse_args()
    python = sys.executable
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; load average at start "
        + " ".join(f"{n:.2f}" for n in os.getloadavg())
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "results.csv"
        started = time.perf_counter()
        write_csv(path, options.megabytes)
        size = path.stat().st_size
        print(f"file: {size / MiB:,.0f} MiB, written in {time.perf_counter() - started:.1f} s")
        (folder / "batch.csv").write_text(BATCH.format(name=path.name))

        show("start only", child([python, "-c", START]))
        show("pre-flight", child([python, "-c", PREFLIGHT, str(path)]), size)
        show("hash (SHA-256)", child([python, "-c", HASH, str(path)]), size)
        show("pre-flight + hash, one read", child([python, "-c", BOTH, str(path)]), size)
        validate = [python, "-c", "from loader.cli import main; main()", "validate"]
        show("bcdc-loader validate", child([*validate, str(folder / "batch.csv")]), size)

        if options.frictionless:
            part = folder / "first100.csv"
            with path.open("rb") as source, part.open("wb") as out:
                for _ in range(100):  # a MiB at a time: a child's peak counts the parent's
                    out.write(source.read(MiB))
                out.write(source.readline())
            small = part.stat().st_size
            print(f"first {small / MiB:.0f} MiB of the file:")
            show("pre-flight", child([python, "-c", PREFLIGHT, str(part)]), small)
            show(
                "frictionless validate",
                child([options.frictionless, "-c", FRICTIONLESS, str(part)]),
                small,
            )
    print("load average at end " + " ".join(f"{n:.2f}" for n in os.getloadavg()))


if __name__ == "__main__":
    main()
