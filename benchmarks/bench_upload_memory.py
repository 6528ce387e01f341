"""Peak memory of one large upload: bcdc-loader against a plain ckanapi call.

    make ckan-up
    .venv/bin/python benchmarks/bench_upload_memory.py [--megabytes 120]

Each upload runs in a fresh process that reports its own peak resident
memory (ru_maxrss) before and after; the difference is what the upload cost.
The committed output is benchmarks/results/upload_memory.txt. Target: the
loader's cost stays far below the file's size (the file streams from disk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))

import ckan_stack  # noqa: E402

# Run in a child process: print peak RSS (KiB) before and after one upload, and seconds.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
how, url, token, package, path = sys.argv[1:6]
required = json.loads(sys.argv[6])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if how == "bcdc-loader":
    import csv
    from loader.client import Catalogue
    from loader.run import run_batch
    # imported before measuring, like ckanapi below
    import loader.pipeline.execute, loader.pipeline.plan
    batch = Path(path).with_suffix(".batch.csv")
    with batch.open("w", newline="") as out:
        row = {"op": "create", "package": package, "name": "big-loader",
               "upload": Path(path).name, **required}
        w = csv.DictWriter(out, fieldnames=list(row)); w.writeheader(); w.writerow(row)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = run_batch(batch, Catalogue(url, token))
    assert result.exit_code == 0, result.outcomes
else:
    import ckanapi
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with open(path, "rb") as stream:
        ckan.action.resource_create(
            package_id=package, name="big-ckanapi", upload=stream, **required)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before": before, "after": after, "seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=120)
    args = parser.parse_args()

    credentials = json.loads(ckan_stack.LINE.credentials.read_text())
    url, token = credentials["url"], credentials["sysadmin"]["token"]
    name = f"bench-upload-{uuid.uuid4().hex[:8]}"
    ckan_stack.action(
        url,
        "package_create",
        token,
        **ckan_stack.dataset_fields(name, "Upload benchmark", credentials["organizations"][0]),
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "big.csv"
            line = b"station,2026-11-01T00:00:00,12.345678,mg/L,checked\n"
            with path.open("wb") as out:
                for _ in range(args.megabytes * 1024 * 1024 // len(line)):
                    out.write(line)
            size = path.stat().st_size / 2**20
            print(f"file: {size:.0f} MiB, uploaded to {url} (gunicorn, same machine)")
            for how in ("bcdc-loader", "ckanapi"):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        how,
                        url,
                        token,
                        name,
                        str(path),
                        json.dumps(ckan_stack.RESOURCE_REQUIRED),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                grew = (figures["after"] - figures["before"]) / 1024
                print(
                    f"{how:>12}: peak memory grew {grew:7.1f} MiB during the upload "
                    f"({grew / size:.2f} x the file), {figures['seconds']:.1f} s"
                )
    finally:
        ckan_stack.action(url, "dataset_purge", token, id=name)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - started:.0f} s)")
