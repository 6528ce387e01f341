"""The monthly refresh as an editor's machine sees it: loopback and across a network.

    make ckan-up
    .venv/bin/python benchmarks/bench_wire.py [--repeat 2] [--quick] [--follow]

2,000 uploaded resources in 200 datasets (256 KiB CSV tables, which the
catalogue loads into its DataStore), of which 10% of the files changed since
the last refresh, two ways:

- the loader's: `bcdc-loader export --organization ...` (a workbook), the
  `upload` column filled with each resource's file, then `bcdc-loader run
  --jobs 4` (unchanged files are not sent);
- the seed's: a plain loop calling ckanapi `resource_update` with every file,
  as the catalogue's API guide shows (the ids known beforehand).

Each way runs on loopback and through benchmarks/netproxy.py (40 ms a
request, 50 Mbit/s up by default), and the benchmark prints export, run and
total, the seed's time, their ratio against the target (12x loopback, 20x
through the proxy), the number of stored files each way rewrote (from the
catalogue's storage folder) and, through the proxy, the requests each way
made. Figures are the minimum of `--repeat` runs. Here the loader runs with
`--datastore-wait 0`: it asks once how each load stands, and does not wait;
and the catalogue's job workers are stopped while both ways are timed, so
that the loads each way queues do not take the CPU being measured
(`wire.loads_held`). Before each timed refresh (untimed) the loader's
resources are left as last month's finished loads would leave them (`settle`).

`--follow` measures instead what following the DataStore loads costs: each
refresh is run twice (each with a fresh 10% of the files changed, the
catalogue's job queue empty before each), with `--datastore-wait 0` and with
`--datastore-wait SECONDS` (the loader's default unless `--wait` says
otherwise), and the benchmark prints both run times, the difference (what the
run waited for the catalogue to load the files), the DataStore states the runs
reported and, through the proxy, the status reads. The seed's way is not run.

The fixtures are made on first use and kept: one organization for the loader's
datasets and one for the seed's (the seed's resource_update drops the hash the
loader recorded, so the two cannot share resources), and the files in
`.bench/`. Each run changes a fresh random 10% of the files first.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import wire

TARGETS = {"loopback": 12.0, "proxy": 20.0}


@dataclass
class Shape:
    datasets: int
    per_dataset: int
    file_size: int
    changed: float  # share of the files changed before each refresh

    @property
    def tag(self) -> str:
        return f"{self.datasets}x{self.per_dataset}"

    @property
    def files(self) -> int:
        return self.datasets * self.per_dataset


@dataclass
class Fixture:
    """The two sets of datasets and the local files both are refreshed from."""

    site: wire.Site
    shape: Shape
    folder: Path
    loader_org: str
    seed_org: str
    # (dataset number, resource name) -> the local file, as the batch names it (relative)
    files: dict[tuple[int, str], str] = field(default_factory=dict)
    loader_ids: list[str] = field(default_factory=list)
    seed: list[tuple[str, str, Path]] = field(default_factory=list)  # (id, name, file)
    last_run: str = ""  # what the loader's last run printed

    def path(self, relative: str) -> Path:
        return self.folder / relative


def dataset_names(prefix: str, shape: Shape) -> list[str]:
    return [f"{prefix}-{n:03d}" for n in range(shape.datasets)]


def index_of(dataset: str) -> int:
    """A fixture dataset's number (its files are in files/dNNN/)."""
    return int(dataset.rsplit("-", 1)[1])


def resource_names(shape: Shape) -> list[str]:
    return [f"part-{n:02d}" for n in range(shape.per_dataset)]


def prepare(site: wire.Site, shape: Shape) -> Fixture:
    """Make what is missing (files, datasets, resources) and bring the loader's set
    in step with the files; returns the fixture."""
    folder = wire.DATA / f"wire-{shape.tag}-{shape.file_size >> 10}k-tables"
    fixture = Fixture(
        site,
        shape,
        folder,
        f"bench-wire-{shape.tag}-loader",
        f"bench-wire-{shape.tag}-seed",
    )
    for n in range(shape.datasets):
        for name in resource_names(shape):
            relative = f"files/d{n:03d}/{name}.csv"
            local = folder / relative
            if not _is_table(local, shape.file_size):
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(wire.table_bytes(shape.file_size))
            fixture.files[(n, name)] = relative
    loaders = wire.ensure_datasets(site, fixture.loader_org, dataset_names("wl" + shape.tag, shape))
    seeds = wire.ensure_datasets(site, fixture.seed_org, dataset_names("ws" + shape.tag, shape))
    # every loader resource holds its file (upsert: unchanged ones are left alone)
    every = [
        (name, fixture.files[(index_of(name), r)])
        for name in loaders
        for r in resource_names(shape)
    ]
    _load(fixture, "sync-loader.csv", every)
    missing = [
        (name, fixture.files[(index_of(name), r)])
        for name, package in seeds.items()
        for r in resource_names(shape)
        if r not in {res["name"] for res in package["resources"]}
    ]
    if missing:
        _load(fixture, "make-seed.csv", missing)
    loaders = wire.datasets_of(site, wire.ensure_organization(site, fixture.loader_org, ""))
    fixture.loader_ids = [r["id"] for p in loaders.values() for r in p["resources"]]
    seeds = wire.datasets_of(site, wire.ensure_organization(site, fixture.seed_org, ""))
    fixture.seed = [
        (r["id"], r["name"], fixture.path(fixture.files[(index_of(name), r["name"])]))
        for name, package in sorted(seeds.items())
        for r in package["resources"]
    ]
    assert len(fixture.loader_ids) == len(fixture.seed) == shape.files, "fixture incomplete"
    return fixture


def settle(fixture: Fixture) -> int:
    """Leave the loader's resources as last month's finished DataStore loads would
    have: the stored file's MD5 in `hash` (what the DataStore loader writes after a
    load that worked). The loads themselves are held while the ways are timed and
    dropped after (wire.loads_held), so without this every resource's last load
    would stay queued for ever, and each refresh would ask about 2,000 of them.
    Untimed; returns how many resources it settled."""
    site = fixture.site
    organization = wire.ensure_organization(site, fixture.loader_org, "")
    unsettled = [
        resource["id"]
        for package in wire.datasets_of(site, organization).values()
        for resource in package["resources"]
        if str(resource.get("hash") or "").startswith("sha256:")
    ]

    def md5_in_hash(resource_id: str) -> None:
        digest = hashlib.md5(site.stored_file(resource_id).read_bytes(), usedforsecurity=False)
        site.ckan().action.resource_patch(id=resource_id, hash=digest.hexdigest())

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(md5_in_hash, unsettled))
    return len(unsettled)


def _is_table(path: Path, size: int) -> bool:
    """Whether a fixture file is there, of its size, and a table (not the random
    bytes earlier fixtures held)."""
    if not path.exists() or path.stat().st_size != size:
        return False
    with path.open("rb") as stream:
        return stream.read(len(wire.HEADING)) == wire.HEADING


def _load(fixture: Fixture, batch_name: str, rows: list[tuple[str, str]]) -> None:
    """Upsert a file into each (dataset, file) with the loader (setting up, not timed)."""
    batch = fixture.folder / batch_name
    columns = ["op", "package", "name", "upload", *wire.REQUIRED]
    lines = [",".join(columns)]
    for package, relative in rows:
        name = Path(relative).stem
        lines.append(",".join(["upsert", package, name, relative, *wire.REQUIRED.values()]))
    batch.write_text("\n".join(lines) + "\n")
    result = fixture.folder / (batch.stem + "-results.xlsx")
    _clear_results(result)
    print(f"  setting up: {len(rows)} upsert rows ({batch_name}) ...", flush=True)
    ran = wire.checked(
        wire.bcdc_loader(
            fixture.site, "run", str(batch), "--jobs", "4", "-q", "-o", str(result),
            "--datastore-wait", "0",
        ),
        f"setting up with {batch_name}",
        allowed=(0, wire.NOT_LOADED),
    )  # fmt: skip
    print(f"  {ran.out.strip()}", flush=True)


def _clear_results(result: Path) -> None:
    result.unlink(missing_ok=True)
    result.with_name(result.stem + ".journal.jsonl").unlink(missing_ok=True)


def change_files(fixture: Fixture, rng: random.Random) -> int:
    """Give a fresh random share of the files new contents (same size); how many."""
    chosen = rng.sample(
        sorted(fixture.files.values()), round(fixture.shape.files * fixture.shape.changed)
    )
    for relative in chosen:
        fixture.path(relative).write_bytes(wire.table_bytes(fixture.shape.file_size))
    return len(chosen)


def fill_uploads(batch: Path, fixture: Fixture) -> int:
    """Write each row's file into the exported workbook's `upload` column, as an
    editor would; returns the rows filled."""
    workbook = openpyxl.load_workbook(batch)
    sheet = workbook["Batch"]
    heading = {cell.value: cell.column for cell in sheet[1] if cell.value}
    filled = 0
    for row in sheet.iter_rows(min_row=2):
        package = row[heading["package"] - 1].value
        name = row[heading["name"] - 1].value
        if package and name:
            row[heading["upload"] - 1].value = fixture.files[(index_of(str(package)), str(name))]
            filled += 1
    workbook.save(batch)
    return filled


@dataclass
class Measured:
    export: float
    run: float
    seed: float
    loader_rewrote: int
    seed_rewrote: int
    changed: int
    export_requests: list[dict[str, Any]] = field(default_factory=list)
    run_requests: list[dict[str, Any]] = field(default_factory=list)
    seed_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def loader(self) -> float:
        return self.export + self.run


def loaders_way(
    fixture: Fixture, route: wire.Route, wait: int = 0
) -> tuple[float, float, int, list, list]:
    site = fixture.site
    batch = fixture.folder / "refresh.xlsx"
    result = fixture.folder / "refresh-results.xlsx"
    batch.unlink(missing_ok=True)
    _clear_results(result)
    route.mark()
    exported = wire.checked(
        wire.bcdc_loader(
            site, "export", "--organization", fixture.loader_org, "-o", str(batch), url=route.url
        ),
        "export",
    )
    export_requests = route.since_mark()
    filled = fill_uploads(batch, fixture)
    assert filled == fixture.shape.files, f"{filled} rows filled of {fixture.shape.files}"
    since = time.time_ns()
    route.mark()
    ran = wire.checked(
        wire.bcdc_loader(
            site, "run", str(batch), "--jobs", "4", "-q", "-o", str(result),
            "--datastore-wait", str(wait), url=route.url,
        ),
        "run",
        allowed=(0, wire.NOT_LOADED),
    )  # fmt: skip
    fixture.last_run = ran.out.strip()
    print(f"    {fixture.last_run}", flush=True)
    run_requests = route.since_mark()
    rewrote = site.rewritten(fixture.loader_ids, since)
    return exported.seconds, ran.seconds, rewrote, export_requests, run_requests


def seeds_way(fixture: Fixture, route: wire.Route) -> tuple[float, int, list]:
    """resource_update with every file, one after another (the API guide's way)."""
    ckan = fixture.site.ckan(route.url)
    since = time.time_ns()
    route.mark()

    def loop() -> None:
        for resource_id, name, path in fixture.seed:
            with path.open("rb") as upload:
                ckan.action.resource_update(
                    id=resource_id, upload=upload, name=name, **wire.REQUIRED
                )

    seconds = wire.timed(loop)
    requests = route.since_mark()
    return seconds, fixture.site.rewritten((s[0] for s in fixture.seed), since), requests


def measure(fixture: Fixture, network: wire.Network, rng: random.Random) -> Measured:
    log = fixture.folder / f"requests-{network.name}.jsonl"
    with wire.route(fixture.site, network, log) as route:
        changed = change_files(fixture, rng)
        export, run, loader_rewrote, export_requests, run_requests = loaders_way(fixture, route)
        seed, seed_rewrote, seed_requests = seeds_way(fixture, route)
    return Measured(
        export, run, seed, loader_rewrote, seed_rewrote, changed,
        export_requests, run_requests, seed_requests,
    )  # fmt: skip


def report(shape: Shape, networks: list[wire.Network], runs: dict[str, list[Measured]]) -> None:
    print(
        f"\nrefresh of {shape.files:,} uploaded resources in {shape.datasets} datasets "
        f"({shape.file_size >> 10} KiB files), {shape.changed:.0%} of files changed; "
        f"loader --jobs 4; min of {len(runs[networks[0].name])} runs"
    )
    width = 40
    print(f"{'':28}" + "".join(f"{n.name:>{width}}" for n in networks))
    rows: list[tuple[str, Callable[[list[Measured], str], str]]] = [
        ("loader: export", lambda m, _: f"{min(x.export for x in m):.1f} s"),
        ("        run", lambda m, _: f"{min(x.run for x in m):.1f} s"),
        ("        total", lambda m, _: f"{min(x.loader for x in m):.1f} s"),
        ("seed's way (resource_update)", lambda m, _: f"{min(x.seed for x in m):.1f} s"),
        (
            "ratio (seed / loader)",
            lambda m, n: (
                f"{min(x.seed for x in m) / min(x.loader for x in m):.1f}x (target {TARGETS[n]:g}x)"
            ),
        ),
        (
            "stored files rewritten",
            lambda m, _: (
                f"loader {max(x.loader_rewrote for x in m)} of "
                f"{m[0].changed} changed, seed {max(x.seed_rewrote for x in m)}"
            ),
        ),
    ]
    for label, cell in rows:
        cells = [cell(runs[n.name], "proxy" if n.proxied else "loopback") for n in networks]
        print(f"{label:28}" + "".join(f"{c:>{width}}" for c in cells))
    for network in networks:
        print(f"\nper run, {network.label}:")
        for number, m in enumerate(runs[network.name], start=1):
            print(
                f"  run {number}: export {m.export:.1f} s + run {m.run:.1f} s = {m.loader:.1f} s; "
                f"seed {m.seed:.1f} s; {m.seed / m.loader:.1f}x; files rewritten: loader "
                f"{m.loader_rewrote} of {m.changed} changed, seed {m.seed_rewrote}"
            )
        last = runs[network.name][-1]
        if network.proxied:
            print("  requests through the proxy (last run), per row of the batch:")
            for what, requests in (
                ("export", last.export_requests),
                ("run", last.run_requests),
                ("seed", last.seed_requests),
            ):
                counted = wire.show_tally(wire.tally(requests), shape.files, "row")
                print(f"    {what + ':':7} {counted}")


@dataclass
class Followed:
    """One refresh run twice: not waiting for the DataStore loads, and waiting."""

    changed: int
    runs: dict[int, float]  # --datastore-wait -> the run's seconds
    states: dict[int, str]  # --datastore-wait -> the DataStore states the run reported
    requests: dict[int, list[dict[str, Any]]]
    drained: float  # seconds the queue took to empty after the run that did not wait


def follow_measure(
    fixture: Fixture, network: wire.Network, rng: random.Random, wait: int
) -> Followed:
    log = fixture.folder / f"requests-follow-{network.name}.jsonl"
    followed = Followed(0, {}, {}, {}, 0.0)
    with wire.route(fixture.site, network, log) as route:
        for seconds in (0, wait):
            wire.drained(fixture.site)
            followed.changed = change_files(fixture, rng)
            _, run, _, _, requests = loaders_way(fixture, route, seconds)
            followed.runs[seconds] = run
            followed.requests[seconds] = requests
            found = re.search(r"DataStore: ([^)]*)\)", fixture.last_run)
            followed.states[seconds] = found.group(1) if found else "no DataStore states"
            if seconds == 0:
                followed.drained = wire.drained(fixture.site)
    return followed


def report_follow(
    shape: Shape, networks: list[wire.Network], runs: dict[str, list[Followed]], wait: int
) -> None:
    print(
        f"\nfollowing DataStore loads: refresh of {shape.files:,} uploaded CSV tables in "
        f"{shape.datasets} datasets ({shape.file_size >> 10} KiB), {shape.changed:.0%} changed; "
        f"loader --jobs 4; min of {len(runs[networks[0].name])} runs"
    )
    for network in networks:
        done = runs[network.name]
        fast, slow = min(m.runs[0] for m in done), min(m.runs[wait] for m in done)
        print(f"{network.label}:")
        print(f"  run, --datastore-wait 0:      {fast:.1f} s ({done[-1].states[0]})")
        print(f"  run, --datastore-wait {wait}:  {slow:.1f} s ({done[-1].states[wait]})")
        print(f"  cost of waiting for the loads: {slow - fast:+.1f} s")
        print(f"  queue emptied after the run that did not wait: "
              f"{min(m.drained for m in done):.1f} s later")  # fmt: skip
        for number, m in enumerate(done, start=1):
            print(f"  run {number}: {m.runs[0]:.1f} s, {m.runs[wait]:.1f} s")
        if network.proxied:
            print("  requests through the proxy (last run), per row of the batch:")
            for seconds in (0, wait):
                counted = wire.show_tally(
                    wire.tally(done[-1].requests[seconds]), shape.files, "row"
                )
                print(f"    wait {seconds}: {counted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs; figures are their minimum")
    parser.add_argument("--quick", action="store_true", help="20 datasets, for a smoke test")
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--per-dataset", type=int, default=10)
    parser.add_argument("--file-kib", type=int, default=256, help="size of each file")
    parser.add_argument("--changed", type=float, default=0.10, help="share of files changed")
    parser.add_argument("--delay-ms", type=float, default=40.0, help="the proxy's delay")
    parser.add_argument("--up-mbit", type=float, default=50.0, help="the proxy's uplink")
    parser.add_argument("--only", choices=["loopback", "proxy"], help="one network only")
    parser.add_argument(
        "--follow", action="store_true", help="measure what following the DataStore loads costs"
    )
    parser.add_argument(
        "--wait", type=int, default=600, help="--datastore-wait of the run that follows (--follow)"
    )
    args = parser.parse_args()
    shape = Shape(
        20 if args.quick else args.datasets, args.per_dataset, args.file_kib << 10, args.changed
    )
    networks = [
        wire.Network("loopback"),
        wire.Network("proxy", args.delay_ms, args.up_mbit),
    ]
    networks = [n for n in networks if args.only in (None, n.name)]
    site = wire.Site.local()
    started = time.perf_counter()
    wire.header(site, f"fixtures: {shape.files} resources in {shape.datasets} datasets ...")
    fixture = prepare(site, shape)
    rng = random.Random()
    if args.follow:
        followed: dict[str, list[Followed]] = {n.name: [] for n in networks}
        for number in range(1, args.repeat + 1):
            for network in networks:
                print(f"run {number}, {network.label} ... (load average {wire.load()})", flush=True)
                followed[network.name].append(follow_measure(fixture, network, rng, args.wait))
        report_follow(shape, networks, followed, args.wait)
    else:
        runs: dict[str, list[Measured]] = {n.name: [] for n in networks}
        with wire.loads_held():
            for number in range(1, args.repeat + 1):
                for network in networks:
                    print(f"  settled {settle(fixture)} resources' last loads", flush=True)
                    print(f"run {number}, {network.label} ... (load {wire.load()})", flush=True)
                    runs[network.name].append(measure(fixture, network, rng))
        report(shape, networks, runs)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s; load average {wire.load()})")


if __name__ == "__main__":
    main()
