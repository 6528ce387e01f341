"""Folding against its limit: the loader's patch rows against one bare
package_revise per dataset, on loopback and across a network.

    make ckan-up
    .venv/bin/python benchmarks/bench_fold.py [--repeat 2]

400 patch rows over 40 datasets (a new description for each of a dataset's 10
URL resources), two ways:

- the loader: a CSV batch naming each resource by dataset and name, run with
  `bcdc-loader run --jobs 4` (start-up, planning reads, the journal and the
  result workbook included: what an editor waits for);
- the bare limit: one `package_revise` per dataset changing its 10 resources,
  the resource ids known beforehand, 4 threads of one dataset at a time.

Each on loopback and through benchmarks/netproxy.py (40 ms a request,
50 Mbit/s up by default). Prints both times, the loader's speed as a share of
the bare script's (target: 0.8 or more) and, through the proxy, the requests
each made. Figures are the minimum of `--repeat` runs. The datasets are made
on first use in an organization of their own and kept.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wire

TARGET = 0.8


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    resources: list[tuple[str, str]]  # (id, name)


def prepare(site: wire.Site, datasets: int, per_dataset: int) -> list[Dataset]:
    """The fixture's datasets, made where missing."""
    tag = f"{datasets}x{per_dataset}"

    def resources(name: str) -> list[dict[str, Any]]:
        return [
            {"name": f"r{n:02d}", "url": f"https://example.com/{name}/{n}", **wire.REQUIRED}
            for n in range(per_dataset)
        ]

    names = [f"fold{tag}-{n:03d}" for n in range(datasets)]
    made = wire.ensure_datasets(site, f"bench-fold-{tag}", names, resources)
    return [
        Dataset(p["id"], p["name"], [(r["id"], r["name"]) for r in p["resources"]])
        for p in made.values()
    ]


def loader(
    site: wire.Site, route: wire.Route, folder: Path, datasets: list[Dataset], text: str
) -> float:
    """`bcdc-loader run --jobs 4` of one patch row per resource, named as an editor would."""
    lines = ["op,package,name,description"]
    for dataset in datasets:
        lines += [f"patch,{dataset.name},{name},{text}" for _, name in dataset.resources]
    batch = folder / "fold.csv"
    batch.write_text("\n".join(lines) + "\n")
    result = folder / "fold-results.xlsx"
    result.unlink(missing_ok=True)
    result.with_name(result.stem + ".journal.jsonl").unlink(missing_ok=True)
    ran = wire.checked(
        wire.bcdc_loader(
            site, "run", str(batch), "--jobs", "4", "-q", "-o", str(result), url=route.url
        ),
        "the loader's run",
    )
    return ran.seconds


def bare(site: wire.Site, route: wire.Route, datasets: list[Dataset], text: str) -> float:
    """One package_revise per dataset, ids known, 4 threads each with its own connection."""
    local = threading.local()

    def revise(dataset: Dataset) -> None:
        if not hasattr(local, "ckan"):
            local.ckan = site.ckan(route.url)
        changes = {f"update__resources__{r}": {"description": text} for r, _ in dataset.resources}
        local.ckan.action.package_revise(match={"id": dataset.id}, **changes)

    def all_datasets() -> None:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(revise, datasets))

    return wire.timed(all_datasets)


Runs = dict[str, list[float]]  # {"loader" or "bare": seconds of each run}


def report(rows: int, datasets: int, networks: list[wire.Network], times: dict[str, Runs],
           requests: dict[str, dict[str, list[dict[str, Any]]]]) -> None:  # fmt: skip
    runs = len(times[networks[0].name]["loader"])
    print(f"\n{rows} patch rows over {datasets} datasets; loader --jobs 4, bare script 4 threads")
    print(f"min of {runs} runs")
    width = 30
    print(f"{'':30}" + "".join(f"{n.name:>{width}}" for n in networks))
    best = {n.name: {way: min(t) for way, t in times[n.name].items()} for n in networks}
    for way, label in (("loader", "loader (bcdc-loader run)"), ("bare", "bare package_revise")):
        print(f"{label:30}" + "".join(f"{best[n.name][way]:>{width - 2}.2f} s" for n in networks))
    shares = [
        f"{best[n.name]['bare'] / best[n.name]['loader']:.2f} (target {TARGET})" for n in networks
    ]
    print(f"{'loader speed / bare speed':30}" + "".join(f"{s:>{width}}" for s in shares))
    for network in networks:
        print(f"\nper run, {network.label}:")
        pairs = zip(times[network.name]["loader"], times[network.name]["bare"], strict=True)
        for number, (mine, theirs) in enumerate(pairs, start=1):
            print(f"  run {number}: loader {mine:.2f} s, bare {theirs:.2f} s, {theirs / mine:.2f}")
        if network.proxied:
            print("  requests through the proxy (last run):")
            for way in ("loader", "bare"):
                counted = wire.show_tally(wire.tally(requests[network.name][way]), rows, "row")
                print(f"    {way + ':':7} {counted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs; figures are their minimum")
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--per-dataset", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=40.0, help="the proxy's delay")
    parser.add_argument("--up-mbit", type=float, default=50.0, help="the proxy's uplink")
    args = parser.parse_args()
    site = wire.Site.local()
    started = time.perf_counter()
    rows = args.datasets * args.per_dataset
    wire.header(site, f"{rows} patch rows over {args.datasets} datasets")
    datasets = prepare(site, args.datasets, args.per_dataset)
    folder = wire.DATA / f"fold-{args.datasets}x{args.per_dataset}"
    folder.mkdir(parents=True, exist_ok=True)
    networks = [wire.Network("loopback"), wire.Network("proxy", args.delay_ms, args.up_mbit)]
    times: dict[str, Runs] = {n.name: {"loader": [], "bare": []} for n in networks}
    requests: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for number in range(1, args.repeat + 1):
        for network in networks:
            print(f"run {number}, {network.label} ... (load average {wire.load()})", flush=True)
            log = folder / f"requests-{network.name}.jsonl"
            with wire.route(site, network, log) as route:
                stamp = f"{network.name} run {number} at {time.time():.0f}"
                route.mark()
                mine = loader(site, route, folder, datasets, f"loader {stamp}")
                loader_requests = route.since_mark()
                route.mark()
                theirs = bare(site, route, datasets, f"bare {stamp}")
                requests[network.name] = {"loader": loader_requests, "bare": route.since_mark()}
            times[network.name]["loader"].append(mine)
            times[network.name]["bare"].append(theirs)
    report(rows, args.datasets, networks, times, requests)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s; load average {wire.load()})")


if __name__ == "__main__":
    main()
