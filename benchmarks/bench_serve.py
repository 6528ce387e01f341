"""What a run of the sample batches costs through the page, against the command line.

    make ckan-up
    .venv/bin/python benchmarks/bench_serve.py [--repeats 3]

Both sample batches (sample_batches/, in the demo's order; they upsert and
patch, so repeating them is safe) are run against the local catalogue as
the editor, three ways:

- cli: `bcdc-loader run BATCH -o FILE`, a fresh process per batch, as
  dev/demo.py does;
- page (http): one `bcdc-loader serve` process; per batch, open its page
  (which checks it), POST Run, poll the run's JSON every 300 ms as the
  page's script does, then download the result workbook;
- page (chromium): the same server driven in headless Chromium: open the
  batch's page, click Run, wait until every row shows its status.

Printed: wall seconds per batch (median of the repeats), CPU seconds of the
loader's own process(es) and, in Chromium, of the browser's processes, and
one-off costs (server and browser start).
The committed output is benchmarks/results/serve.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))

import chromium  # noqa: E402
import ckan_stack  # noqa: E402

BATCHES = ["new-resources.csv", "monthly-refresh.xlsx"]
LOADER = Path(sys.executable).with_name("bcdc-loader")
POLL = 0.3  # the page's own polling interval (loader/serve/static/page.js)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """User + system seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """User + system seconds of a process and its living descendants (Chromium's many)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0.0
    for pid in tree:
        with contextlib.suppress(OSError):  # it ended meanwhile
            total += process_cpu(pid)
    return total


def run_cli(batch: Path, out: Path, env: dict) -> tuple[float, float]:
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run(
        [str(LOADER), "run", str(batch), "-o", str(out), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start, children_cpu() - cpu


class Page:
    """A `bcdc-loader serve` process on the sample folder, holding the editor's token."""

    def __init__(self, env: dict):
        start = time.perf_counter()
        self.process = subprocess.Popen(
            [str(LOADER), "serve", str(ROOT / "sample_batches"), "--no-browser"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.address = re.search(r"http://\S+", self.process.stdout.readline()).group(0)
        self.base = self.address.split("/?")[0]
        self.http = requests.Session()
        self.http.get(self.address, timeout=30).raise_for_status()
        self.started = time.perf_counter() - start
        links = re.findall(r'href="(/batch/[0-9a-f]+)">([^<]+)<', self.http.get(self.base).text)
        self.pages = {name: path for path, name in links}

    def run(self, name: str) -> tuple[float, float]:
        page = self.base + self.pages[name]
        cpu, start = process_cpu(self.process.pid), time.perf_counter()
        self.http.get(page, timeout=30).raise_for_status()
        self.http.post(page + "/run", headers={"Origin": self.base}, timeout=30)
        while True:
            job = self.http.get(page + "/run.json", timeout=30).json()
            if not job["running"]:
                break
            time.sleep(POLL)
        assert job["state"] == "finished", job
        assert all(r["status"] == "done" for r in job["rows"]), job
        self.http.get(page + "/run.xlsx", timeout=30).raise_for_status()
        return time.perf_counter() - start, process_cpu(self.process.pid) - cpu

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_in_browser(driver, page: Page, name: str) -> tuple[float, float, float]:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser = driver.service.process.pid
    cpu, start = process_cpu(page.process.pid), time.perf_counter()
    browser_cpu = tree_cpu(browser)
    driver.get(page.base + page.pages[name])
    button = driver.find_element(By.ID, "run-button")
    button.click()
    # the page still shows the last run's statuses until the new one replaces it
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(button))

    def finished(d) -> bool:
        shown = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#run-table td.status")]
        return bool(shown) and all(s == "done" for s in shown)

    WebDriverWait(
        driver, 120, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    ).until(finished)
    wall = time.perf_counter() - start
    return wall, process_cpu(page.process.pid) - cpu, tree_cpu(browser) - browser_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    credentials = json.loads(ckan_stack.LINE.credentials.read_text())
    env = dict(os.environ, CKAN_API_KEY=credentials["editor"]["token"], CKAN_URL=credentials["url"])
    times: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        page = Page(env)
        start = time.perf_counter()
        driver = chromium.chrome(Path(scratch) / "profile")
        driver.get(page.address)
        browser_start = time.perf_counter() - start
        try:
            for _ in range(args.repeats):
                for name in BATCHES:
                    out = Path(scratch) / f"{name}.xlsx"
                    times.setdefault(("cli", name), []).append(
                        run_cli(ROOT / "sample_batches" / name, out, env)
                    )
                    times.setdefault(("page (http)", name), []).append(page.run(name))
                    times.setdefault(("page (chromium)", name), []).append(
                        run_in_browser(driver, page, name)
                    )
        finally:
            driver.quit()
            page.close()

    print(f"bcdc-loader serve against the command line: the sample batches on {env['CKAN_URL']}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"median of {args.repeats} runs each; cpu s: the loader's own process(es); "
        "browser cpu s: Chromium's"
    )
    print()
    print(f"{'way':<17}{'batch':<22}{'wall s':>8}{'cpu s':>8}{'browser cpu s':>15}")
    for way in ("cli", "page (http)", "page (chromium)"):
        totals = [0.0, 0.0, 0.0]
        for name in BATCHES:
            medians = [
                statistics.median(t[i] if i < len(t) else 0.0 for t in times[(way, name)])
                for i in range(3)
            ]
            totals = [a + b for a, b in zip(totals, medians, strict=True)]
            browser = f"{medians[2]:>15.2f}" if way == "page (chromium)" else ""
            print(f"{way:<17}{name:<22}{medians[0]:>8.2f}{medians[1]:>8.2f}{browser}")
        browser = f"{totals[2]:>15.2f}" if way == "page (chromium)" else ""
        print(f"{way:<17}{'both':<22}{totals[0]:>8.2f}{totals[1]:>8.2f}{browser}")
    print()
    print(
        f"once per session: server start to first page {page.started:.2f} s; "
        f"Chromium start and first page {browser_start:.2f} s"
    )


if __name__ == "__main__":
    main()
