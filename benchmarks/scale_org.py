"""Make (once) an organization of 1,000 datasets and 10,000 resources on the local catalogue.

    make ckan-up
    .venv/bin/python benchmarks/scale_org.py [--datasets 1000] [--per-dataset 10]

Each dataset is made with its resources in one `package_create`, four at a
time. The resources are links (`url`), each last modified on 2025-01-15 with
a monthly cycle, so that every one of them is overdue for `due`. Datasets
already there are kept: a second run makes only what is missing. The
organization (`bench-scale-1000x10`) is the benchmarks' own.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import wire

LAST_MODIFIED = "2025-01-15T00:00:00"


def organization_name(datasets: int, per_dataset: int) -> str:
    return f"bench-scale-{datasets}x{per_dataset}"


def ensure(site: wire.Site, datasets: int = 1000, per_dataset: int = 10) -> str:
    """The organization's name, with every dataset and resource made."""
    tag = f"{datasets}x{per_dataset}"

    def resources(name: str) -> list[dict[str, Any]]:
        return [
            {
                "name": f"r{n:02d}",
                "url": f"https://example.com/{name}/{n}.csv",
                "description": f"Resource {n} of {name}",
                "last_modified": LAST_MODIFIED,
                **wire.REQUIRED,
            }
            for n in range(per_dataset)
        ]

    names = [f"scale{tag}-{n:04d}" for n in range(datasets)]
    organization = organization_name(datasets, per_dataset)
    made = wire.ensure_datasets(site, organization, names, resources)
    count = sum(len(p["resources"]) for p in made.values())
    assert count == datasets * per_dataset, f"{count} resources, not {datasets * per_dataset}"
    return organization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--per-dataset", type=int, default=10)
    args = parser.parse_args()
    site = wire.Site.local()
    started = time.perf_counter()
    organization = ensure(site, args.datasets, args.per_dataset)
    print(f"{organization}: ready in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
