"""Where the loader's time goes, lever by lever, in the refresh and the folding benchmarks.

    make ckan-up
    .venv/bin/python benchmarks/bench_wire.py --repeat 1   # makes the fixtures, once
    .venv/bin/python benchmarks/bench_fold.py --repeat 1
    .venv/bin/python benchmarks/probe_levers.py [--only startup,reads,hashing,journal]

Measures, on loopback and through benchmarks/netproxy.py:

- startup: a `bcdc-loader --help` process, a bare Python process, and the
  heaviest imports of the command line (python -X importtime);
- reads: one package_show at a time, then 4 and 8 at once, over the refresh
  fixture's 200 datasets; the export's package_search pages one at a time
  and 4 at once (what reads in parallel would give export, due and planning);
- hashing: SHA-256 of the refresh fixture's files, one and two threads;
- journal: the refresh run and the folding run with every fsync counted, then
  with os.fsync made a no-op in the loader's process (what one sync per call
  instead of one per line could save at most).

It drives the loader only through its command line (the fsync variants run the
same entry point in a process whose os.fsync was replaced first), so it keeps
working whatever the loader's modules are called. Figures are single runs:
read them beside each other, not as a benchmark's minimum.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_fold
import bench_wire
import wire

NETWORKS = [wire.Network("loopback"), wire.Network("proxy", 40.0, 50.0)]

COUNT_FSYNC = """
import atexit, os, sys, threading, time
_fsync, _count, _lock = os.fsync, [0, 0.0], threading.Lock()
def _counted(fd):
    started = time.perf_counter()
    try:
        return _fsync(fd)
    finally:
        with _lock:
            _count[0] += 1
            _count[1] += time.perf_counter() - started
os.fsync = _counted
atexit.register(
    lambda: print(f"fsync calls: {_count[0]} taking {_count[1]:.2f} s", file=sys.stderr)
)
"""
NO_FSYNC = """
import atexit, os, sys
_count = [0]
def _skipped(fd):
    _count[0] += 1
os.fsync = _skipped
atexit.register(lambda: print(f"fsync calls (skipped): {_count[0]}", file=sys.stderr))
"""


def startup(_site: wire.Site) -> None:
    print("\nstart-up (min of 5 processes)")
    runs = [wire.timed(lambda: subprocess.run([str(wire.LOADER), "--help"], capture_output=True))
            for _ in range(5)]  # fmt: skip
    bare = [wire.timed(lambda: subprocess.run([sys.executable, "-c", "pass"])) for _ in range(5)]
    print(f"  bcdc-loader --help   {min(runs):.2f} s   (python -c pass: {min(bare):.2f} s)")
    code = (
        "from importlib.metadata import entry_points\n"
        "(main,) = entry_points(group='console_scripts', name='bcdc-loader')\nmain.load()"
    )
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    ).stderr
    cumulative: dict[str, float] = {}
    for line in found.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, total, name = line.split("|")
            if total.strip().isdigit():
                cumulative[name.rstrip()] = int(total) / 1e6
    top = max(cumulative.values(), default=0.0)
    print(f"  imports of the command line: {top:.2f} s; the heaviest (cumulative):")
    heavy = {n: s for n, s in cumulative.items() if s > 0.03 and len(n) - len(n.lstrip()) <= 6}
    for name, seconds in sorted(heavy.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {seconds:5.2f} s {name}")


def reads(site: wire.Site, fixture: bench_wire.Fixture) -> None:
    names = bench_wire.dataset_names("wl" + fixture.shape.tag, fixture.shape)
    for network in NETWORKS:
        with wire.route(site, network, fixture.folder / "probe-requests.jsonl") as route:
            print(f"\nreads, {network.label}")
            _reads_on(site, route.url, names, fixture.loader_org)


def _reads_on(site: wire.Site, url: str, names: list[str], organization: str) -> None:
    local = threading.local()

    def ckan() -> Any:
        if not hasattr(local, "ckan"):
            local.ckan = site.ckan(url)
        return local.ckan

    def show(name: str) -> float:
        return wire.timed(lambda: ckan().action.package_show(id=name))

    def at_once(threads: int, work: Callable[[Any], Any], items: list[Any]) -> float:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return wire.timed(lambda: list(pool.map(work, items)))

    single = [show(names[0]) for _ in range(20)]
    print(
        f"  one package_show (10 resources): median {statistics.median(single) * 1000:.0f} ms, "
        f"min {min(single) * 1000:.0f} ms"
    )
    for threads in (1, 4, 8):
        seconds = at_once(threads, show, names)
        print(f"  {len(names)} package_show, {threads} at once: {seconds:5.2f} s")
    org_id = ckan().action.organization_show(id=organization)["id"]
    query = {"fq": f"owner_org:{org_id}", "include_private": True, "sort": "name asc"}
    count = ckan().action.package_search(rows=0, **query)["count"]
    for rows, threads in ((100, 1), (100, 4), (25, 4), (25, 8)):
        starts = list(range(0, count, rows))

        def page(start: int, rows: int = rows) -> Any:
            return ckan().action.package_search(rows=rows, start=start, **query)

        seconds = at_once(threads, page, starts)
        print(
            f"  package_search of {count} datasets, {len(starts)} pages of {rows}, "
            f"{threads} at once: {seconds:5.2f} s"
        )


def hashing(fixture: bench_wire.Fixture) -> None:
    files = [fixture.path(r) for r in sorted(fixture.files.values())]
    size = sum(p.stat().st_size for p in files)

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    print(f"\nhashing {len(files)} files, {size / (1 << 20):.0f} MiB (SHA-256)")
    for threads in (1, 2):
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            seconds = wire.timed(lambda: list(pool.map(digest, files)))  # noqa: B023
        print(f"  {threads} thread{'s' if threads > 1 else ''}: {seconds:.2f} s")


def journal(site: wire.Site, fixture: bench_wire.Fixture, fold: list[bench_fold.Dataset]) -> None:
    rng = random.Random()
    variants: list[tuple[str, str]] = [("fsync counted", COUNT_FSYNC), ("fsync a no-op", NO_FSYNC)]
    for network in NETWORKS:
        print(f"\njournal, {network.label} (single runs)")
        with wire.route(site, network, fixture.folder / "probe-requests.jsonl") as route:
            for label, before in variants:
                bench_wire.change_files(fixture, rng)
                seconds, fsyncs = _refresh_run(fixture, route, before)
                print(f"  refresh run ({label}): {seconds:5.2f} s   {fsyncs}")
            folder = wire.DATA / "fold-probe"
            folder.mkdir(parents=True, exist_ok=True)
            for label, before in variants:
                text = f"probe {label} {time.time():.0f}"
                seconds, fsyncs = _fold_run(site, route, folder, fold, text, before)
                print(f"  folding run ({label}): {seconds:5.2f} s   {fsyncs}")


def _refresh_run(
    fixture: bench_wire.Fixture, route: wire.Route, before: str, timed_from: float | None = None
) -> Any:
    batch = fixture.folder / "probe.xlsx"
    result = fixture.folder / "probe-results.xlsx"
    batch.unlink(missing_ok=True)
    bench_wire._clear_results(result)
    wire.checked(
        wire.bcdc_loader(fixture.site, "export", "--organization", fixture.loader_org, "-o",
                         str(batch), url=route.url),
        "export",
    )  # fmt: skip
    bench_wire.fill_uploads(batch, fixture)
    if timed_from is not None:  # the run's own start, not the export's
        timed_from = time.time()
        route.mark()
    ran = wire.checked(
        wire.bcdc_loader(fixture.site, "run", str(batch), "--jobs", "4", "-q", "-o", str(result),
                         url=route.url, before=before),
        "run",
    )  # fmt: skip
    if timed_from is not None:
        return (timed_from, ran.seconds), _fsync_line(ran.out)
    return ran.seconds, _fsync_line(ran.out)


def _fold_run(
    site: wire.Site,
    route: wire.Route,
    folder: Path,
    datasets: list[bench_fold.Dataset],
    text: str,
    before: str,
) -> tuple[float, str]:
    lines = ["op,package,name,description"]
    for dataset in datasets:
        lines += [f"patch,{dataset.name},{name},{text}" for _, name in dataset.resources]
    batch = folder / "probe.csv"
    batch.write_text("\n".join(lines) + "\n")
    result = folder / "probe-results.xlsx"
    bench_wire._clear_results(result)
    ran = wire.checked(
        wire.bcdc_loader(site, "run", str(batch), "--jobs", "4", "-q", "-o", str(result),
                         url=route.url, before=before),
        "run",
    )  # fmt: skip
    return ran.seconds, _fsync_line(ran.out)


WRITES = {"resource_patch", "resource_update", "resource_create", "package_revise",
          "resource_delete", "update_resource_refresh_timestamp"}  # fmt: skip


def phases(site: wire.Site, fixture: bench_wire.Fixture, fold: list[bench_fold.Dataset]) -> None:
    """Each run's wall time cut at its requests (from the proxy's log), with the
    time spent in fsync, on loopback (through the proxy, no delay) and across it."""
    rng = random.Random()
    folder = wire.DATA / "fold-probe"
    folder.mkdir(parents=True, exist_ok=True)
    for network in (wire.Network("logged"), NETWORKS[1]):
        with wire.route(site, network, fixture.folder / "probe-requests.jsonl") as route:
            bench_wire.change_files(fixture, rng)
            started = time.time()
            route.mark()
            seconds, fsyncs = _refresh_run(fixture, route, COUNT_FSYNC, timed_from=started)
            _timeline(f"refresh run, {network.label}", route.since_mark(), *seconds, fsyncs)
            route.mark()
            started = time.time()
            text = f"probe phases {time.time():.0f}"
            ran, fsyncs = _fold_run(site, route, folder, fold, text, COUNT_FSYNC)
            _timeline(f"folding run, {network.label}", route.since_mark(), started, ran, fsyncs)


def _timeline(
    title: str, requests: list[dict[str, Any]], started: float, seconds: float, fsyncs: str
) -> None:
    ended = started + seconds
    first = min(r["at"] for r in requests)
    writes = [r for r in requests if r["action"] in WRITES]
    reads = [r for r in requests if r["action"] not in WRITES]
    first_write = min((r["at"] for r in writes), default=ended)
    last_answer = max(r["at"] + r["seconds"] for r in requests)
    print(f"\n{title}: {seconds:.2f} s")
    cuts = [
        ("process start to its first request (start-up, read, validate)", first - started),
        ("first request to first write (planning: reads, hashing)", first_write - first),
        ("first write to last answer (the writes)", last_answer - first_write),
        ("last answer to the process's end (result workbook, exit)", ended - last_answer),
    ]
    for label, part in cuts:
        print(f"  {label:64}{part:6.2f} s")
    print(f"  {fsyncs}")
    for name, group in (("reads", reads), ("writes", writes)):
        by_action: dict[str, list[float]] = {}
        for r in group:
            by_action.setdefault(wire.tally([r]).most_common(1)[0][0], []).append(r["seconds"])
        for action, times in sorted(by_action.items()):
            print(
                f"  {name}: {len(times)} {action}, {sum(times):.2f} s in all, median "
                f"{statistics.median(times) * 1000:.0f} ms"
            )


def _fsync_line(out: str) -> str:
    return next((line for line in out.splitlines() if line.startswith("fsync calls")), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="startup,reads,hashing,journal,phases")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    site = wire.Site.local()
    wire.header(site, "levers of the refresh (200x10, 256 KiB files) and folding (40x10)")
    fixture = bench_wire.prepare(site, bench_wire.Shape(200, 10, 256 << 10, 0.10))
    fold = bench_fold.prepare(site, 40, 10)
    steps: dict[str, Callable[[], None]] = {
        "startup": lambda: startup(site),
        "reads": lambda: reads(site, fixture),
        "hashing": lambda: hashing(fixture),
        "journal": lambda: journal(site, fixture, fold),
        "phases": lambda: phases(site, fixture, fold),
    }
    for name, step in steps.items():
        if name in wanted:
            step()
    print(f"\n(load average {wire.load()})")


if __name__ == "__main__":
    main()
