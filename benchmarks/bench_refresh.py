"""What a monthly refresh costs: folding, lanes, unchanged files, memory.

    make ckan-up
    .venv/bin/python benchmarks/bench_refresh.py [--quick]

Against the local catalogue, in one run, it prints:

1. 400 patch rows over 40 datasets: a plain ckanapi resource_patch loop, the
   loader with folding (one package_revise per dataset), and with --no-fold.
2. 400 URL-only create rows over 40 datasets: a plain loop, a bare runner of
   4 threads with one lane per dataset, and the loader at --jobs 1 and 4,
   folding off and on.
3. A refresh of 200 uploaded files of which 20 changed, against uploading
   all 200.
4. The loader's peak resident memory, measured from outside its process,
   while it uploads a 1 GiB file.

Every dataset it makes is purged at the end. The committed output is
benchmarks/results/refresh.txt.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ckanapi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))

import ckan_stack  # noqa: E402

from loader.client import Catalogue  # noqa: E402
from loader.options import RunOptions  # noqa: E402
from loader.run import run_batch  # noqa: E402

REQUIRED = ckan_stack.RESOURCE_REQUIRED


class Bench:
    def __init__(self, datasets: int, per_dataset: int):
        credentials = json.loads(ckan_stack.LINE.credentials.read_text())
        self.url = credentials["url"]
        self.token = credentials["sysadmin"]["token"]
        self.organization = credentials["organizations"][0]
        self.ckan = ckanapi.RemoteCKAN(self.url, apikey=self.token)
        self.datasets, self.per_dataset = datasets, per_dataset
        self.made: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="bcdc-bench-"))

    def new_datasets(self, with_resources: bool = False) -> list[str]:
        names = []
        for _ in range(self.datasets):
            name = f"bench-{uuid.uuid4().hex[:10]}"
            fields = ckan_stack.dataset_fields(name, "Refresh benchmark", self.organization)
            if with_resources:
                fields["resources"] = [
                    {"name": f"r{i}", "url": f"https://example.com/{i}", **REQUIRED}
                    for i in range(self.per_dataset)
                ]
            self.ckan.action.package_create(**fields)
            self.made.append(name)
            names.append(name)
        return names

    def batch(self, rows: list[dict[str, str]], name: str) -> Path:
        path = self.folder / name
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def loader(self, batch: Path, **options: Any) -> float:
        start = time.perf_counter()
        result = run_batch(batch, Catalogue(self.url, self.token), RunOptions(**options))
        seconds = time.perf_counter() - start
        bad = [o for o in result.outcomes if o.status != "done"]
        assert not bad, bad[:3]
        return seconds

    def cleanup(self) -> None:
        for name in self.made:
            self.ckan.action.dataset_purge(id=name)
        shutil.rmtree(self.folder, ignore_errors=True)


def timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def patches(bench: Bench) -> None:
    names = bench.new_datasets(with_resources=True)
    ids = {
        name: [r["id"] for r in bench.ckan.action.package_show(id=name)["resources"]]
        for name in names
    }

    def plain() -> None:
        for name in names:
            for resource_id in ids[name]:
                bench.ckan.action.resource_patch(id=resource_id, description="plain")

    def rows(text: str) -> list[dict[str, str]]:
        return [
            {"op": "patch", "package": name, "name": f"r{i}", "description": text}
            for name in names
            for i in range(bench.per_dataset)
        ]

    n = len(names) * bench.per_dataset
    base = timed(plain)
    folded = bench.loader(bench.batch(rows("folded"), "patch-fold.csv"))
    folded4 = bench.loader(bench.batch(rows("folded4"), "patch-fold4.csv"), jobs=4)
    unfolded = bench.loader(bench.batch(rows("unfolded"), "patch-nofold.csv"), fold=False)
    print(f"\n1. {n} patch rows over {len(names)} datasets")
    print(f"   plain resource_patch loop      {base:7.1f} s")
    print(f"   loader, folding                {folded:7.1f} s   {base / folded:5.1f}x faster")
    print(f"   loader, folding, --jobs 4      {folded4:7.1f} s   {base / folded4:5.1f}x faster")
    print(f"   loader, --no-fold              {unfolded:7.1f} s   {base / unfolded:5.2f}x the loop")


def creates(bench: Bench) -> None:
    def create_rows(names: list[str], tag: str) -> list[dict[str, str]]:
        return [
            {
                "op": "create",
                "package": name,
                "name": f"{tag}-{i}",
                "url": f"https://example.com/{tag}/{i}",
                **REQUIRED,
            }
            for name in names
            for i in range(bench.per_dataset)
        ]

    def plain(names: list[str]) -> None:
        for row in create_rows(names, "plain"):
            fields = {k: v for k, v in row.items() if k not in ("op", "package")}
            bench.ckan.action.resource_create(package_id=row["package"], **fields)

    def bare(names: list[str]) -> None:
        def lane(name: str) -> None:
            ckan = ckanapi.RemoteCKAN(bench.url, apikey=bench.token)
            for row in create_rows([name], "bare"):
                fields = {k: v for k, v in row.items() if k not in ("op", "package")}
                ckan.action.resource_create(package_id=name, **fields)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lane, names))

    results = {"plain loop": timed(lambda: plain(bench.new_datasets()))}
    results["bare 4-thread runner"] = timed(lambda: bare(bench.new_datasets()))
    for fold in (False, True):
        for jobs in (1, 4):
            tag = f"j{jobs}{'f' if fold else 'n'}"
            batch = bench.batch(create_rows(bench.new_datasets(), tag), f"create-{tag}.csv")
            label = f"loader --jobs {jobs}, folding {'on' if fold else 'off'}"
            results[label] = bench.loader(batch, jobs=jobs, fold=fold)
    n = bench.datasets * bench.per_dataset
    print(f"\n2. {n} URL-only create rows over {bench.datasets} datasets")
    _print_creates(results)


def _print_creates(results: dict[str, float]) -> None:
    base, threads = results["plain loop"], results["bare 4-thread runner"]
    for label, seconds in results.items():
        against = (
            f"{base / seconds:5.2f}x the loop" if "jobs 1" in label or label == "plain loop" else ""
        )
        if "jobs 4" in label or label.startswith("bare"):
            against = f"{threads / seconds:5.2f}x the bare runner"
        print(f"   {label:34} {seconds:7.1f} s   {against}")


def refresh(bench: Bench, files: int, changed: int) -> None:
    datasets = bench.new_datasets()[: max(1, files // bench.per_dataset)]
    folder = bench.folder / f"files-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    rows = []
    for n in range(files):
        path = folder / f"part-{n:03d}.csv"
        path.write_bytes(os.urandom(1 << 20))
        package = datasets[n % len(datasets)]
        rows.append({"op": "upsert", "package": package, "name": path.stem, **REQUIRED})
        rows[-1]["upload"] = f"{folder.name}/{path.name}"
    batch = bench.batch(rows, "refresh.csv")
    everything = bench.loader(batch, jobs=4)
    for n in range(changed):
        (folder / f"part-{n * (files // changed):03d}.csv").write_bytes(os.urandom(1 << 20))
    again = bench.loader(batch, jobs=4)
    print(f"\n3. refresh of {files} uploaded files (1 MiB each), {changed} changed")
    print(f"   upload all {files}                {everything:7.1f} s")
    print(f"   refresh ({changed} sent)           {again:7.1f} s   {again / everything:5.2f}x")


def big_upload(bench: Bench, megabytes: int) -> None:
    (name,) = bench.new_datasets()[:1]
    path = bench.folder / "big.bin"
    with path.open("wb") as out:
        block = os.urandom(1 << 20)
        for _ in range(megabytes):
            out.write(block)
    batch = bench.batch(
        [{"op": "create", "package": name, "name": "big", "upload": "big.bin", **REQUIRED}],
        "big.csv",
    )
    loader = Path(sys.executable).parent / "bcdc-loader"
    env = dict(os.environ, CKAN_API_KEY=bench.token)
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(loader), "run", str(batch), "--ckan", bench.url, "-q", "-o", str(batch) + ".xlsx"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, "the big upload failed"
    print(f"\n4. upload of a {megabytes} MiB file by `bcdc-loader run` (a process of its own)")
    print(f"   peak resident memory of the whole process: {usage.ru_maxrss / 1024:.0f} MiB")
    print(f"   time: {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole set")
    args = parser.parse_args()
    datasets, per_dataset, files, changed, megabytes = (40, 10, 200, 20, 1024)
    if args.quick:
        datasets, per_dataset, files, changed, megabytes = (4, 5, 20, 2, 16)
    bench = Bench(datasets, per_dataset)
    started = time.perf_counter()
    machine = f"{os.cpu_count()} cores, {platform.machine()}"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"catalogue: {bench.url} (gunicorn, same machine)")
    try:
        for run in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"\n--- run {run} of {args.repeat}")
            patches(bench)
            creates(bench)
            refresh(bench, files, changed)
        big_upload(bench, megabytes)
    finally:
        bench.cleanup()
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
