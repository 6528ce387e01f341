"""What the network benchmarks share: the local catalogue, fixtures made once and
kept, the loader run as a command, and the proxy's request log read back.

The loader is always driven through its command line (`bcdc-loader ...` in a
process of its own), as an editor runs it: start-up, reading and writing
workbooks and the journal all count. The fixtures live in organizations of
their own (`bench-...`), apart from the test suite's, and are reused by every
later run; their local files are kept in `.bench/` (ignored by git).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckanapi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))

import ckan_stack  # noqa: E402
import netproxy  # noqa: E402

DATA = ROOT / ".bench"
LOADER = Path(sys.executable).parent / "bcdc-loader"
REQUIRED = ckan_stack.RESOURCE_REQUIRED
NOT_LOADED = 4  # the loader's exit code: every row done, a file not (yet) in the DataStore


@dataclass(frozen=True)
class Site:
    """The local catalogue, as its credentials file describes it."""

    url: str
    token: str  # the sysadmin's: the fixtures' organizations are no editor's
    line: str
    storage: Path  # where the catalogue keeps uploaded files

    @classmethod
    def local(cls) -> Site:
        credentials = json.loads(ckan_stack.LINE.credentials.read_text())
        return cls(
            credentials["url"],
            credentials["sysadmin"]["token"],
            credentials.get("ckan_line", ckan_stack.LINE.name),
            ckan_stack.LINE.state / "storage",
        )

    def ckan(self, url: str | None = None) -> ckanapi.RemoteCKAN:
        return ckanapi.RemoteCKAN(url or self.url, apikey=self.token)

    def stored_file(self, resource_id: str) -> Path:
        """Where the catalogue keeps a resource's uploaded file (CKAN's own layout)."""
        return self.storage / "resources" / resource_id[:3] / resource_id[3:6] / resource_id[6:]

    def rewritten(self, resource_ids: Iterable[str], since_ns: int) -> int:
        """How many of these resources' stored files were written at or after `since_ns`."""
        count = 0
        for resource_id in resource_ids:
            with contextlib.suppress(FileNotFoundError):
                count += self.stored_file(resource_id).stat().st_mtime_ns >= since_ns
        return count


HEADING = b"n,reading,checksum\n"


def table_bytes(size: int) -> bytes:
    """A CSV table of exactly `size` bytes, new contents each call: a heading row and
    rows of three cells, as a file an editor refreshes holds. The loader looks
    inside each file it uploads (a binary file named .csv is refused), so the
    fixtures must be real tables."""
    out = bytearray(HEADING)
    n = 0
    while len(out) < size:
        left = size - len(out)
        value = os.urandom(8).hex()
        start = f"{n},{value},".encode()
        if left < 2 * 48:  # the last row: its last cell takes up what is left
            tail = os.urandom(left).hex()[: max(1, left - len(start) - 1)]
            out += start + tail.encode() + b"\n"
            break
        out += start + os.urandom(12).hex().encode() + b"\n"
        n += 1
    assert len(out) == size, (len(out), size)
    return bytes(out)


def header(site: Site, what: str) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; load average {load()}"
    )
    print(f"catalogue: {site.url} (CKAN {site.line}, gunicorn, same machine)")
    print(what, flush=True)


def load() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def ensure_organization(site: Site, name: str, title: str) -> str:
    """The organization's id, made if missing."""
    ckan = site.ckan()
    try:
        return str(ckan.action.organization_show(id=name)["id"])
    except ckanapi.NotFound:
        pass
    # without a search server the catalogue can answer 500 after saving it
    with contextlib.suppress(ckanapi.CKANAPIError):
        ckan.action.organization_create(name=name, title=title)
    return str(ckan.action.organization_show(id=name)["id"])


def datasets_of(site: Site, organization_id: str) -> dict[str, dict[str, Any]]:
    """Every dataset of an organization, with its resources, by name."""
    ckan = site.ckan()
    found: dict[str, dict[str, Any]] = {}
    while True:
        page = ckan.action.package_search(
            fq=f"owner_org:{organization_id}",
            include_private=True,
            rows=1000,
            start=len(found),
            sort="name asc",
        )
        for package in page["results"]:
            found[package["name"]] = package
        if not page["results"] or len(found) >= page["count"]:
            return found


def ensure_datasets(
    site: Site,
    organization: str,
    names: list[str],
    resources: Callable[[str], list[dict[str, Any]]] = lambda _name: [],
    threads: int = 4,
) -> dict[str, dict[str, Any]]:
    """The datasets named, in `organization`, made (with `resources(name)` inline)
    where missing, several at a time; returns them by name, with their resources."""
    organization_id = ensure_organization(site, organization, f"Benchmark: {organization}")
    have = datasets_of(site, organization_id)
    missing = [n for n in names if n not in have]
    if missing:
        print(f"  making {len(missing)} datasets in {organization} ...", flush=True)
        started = time.perf_counter()

        def make(name: str) -> None:
            fields = ckan_stack.dataset_fields(name, f"Benchmark {name}", organization)
            fields["resources"] = resources(name)
            site.ckan().action.package_create(**fields)

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(make, missing))
        print(f"  made in {time.perf_counter() - started:.0f} s", flush=True)
        have = datasets_of(site, organization_id)
    return {name: have[name] for name in names}


@dataclass(frozen=True)
class Ran:
    """A finished process: wall time, peak resident memory, exit code, output, and the
    CPU time it used (user and system)."""

    seconds: float
    peak_mib: float
    code: int
    out: str
    cpu: float = 0.0


def bcdc_loader(
    site: Site, *args: str, url: str | None = None, cwd: Path | None = None, before: str = ""
) -> Ran:
    """Run `bcdc-loader ARGS --ckan URL` as an editor would, the token in the environment.

    `before`: Python run in the loader's process first (to measure a lever, e.g.
    with os.fsync made a no-op); the command is then started through its entry
    point, which stays the same whatever the loader's modules are called."""
    env = dict(os.environ, CKAN_API_KEY=site.token)
    command = [str(LOADER), *args, "--ckan", url or site.url]
    if before:
        start = (
            "import sys\nfrom importlib.metadata import entry_points\n"
            "(main,) = entry_points(group='console_scripts', name='bcdc-loader')\n"
            "sys.argv[0] = 'bcdc-loader'\nmain.load()()\n"
        )
        command = [sys.executable, "-c", before + "\n" + start, *command[1:]]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = _Peak(child.pid)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    return Ran(seconds, peak.stop() / 1024, os.waitstatus_to_exitcode(status), out, cpu)


class _Peak:
    """A process's peak resident memory in KiB, read from /proc while it runs.

    Not rusage: a child started by vfork and exec (as subprocess starts it)
    inherits its parent's peak there, so a large benchmark process would be
    counted as the loader's. VmHWM is the process's own; it is read every
    10 ms, and the loader does not grow while it exits."""

    def __init__(self, pid: int):
        self._status = Path(f"/proc/{pid}/status")
        self._peak = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                text = self._status.read_text()
            except OSError:
                return
            if "VmHWM:" not in text:  # exited: a zombie has no memory left
                return
            self._peak = max(self._peak, int(text.split("VmHWM:")[1].split()[0]))
            time.sleep(0.01)

    def stop(self) -> int:
        self._thread.join(5)
        return self._peak


def drained(site: Site, timeout: float = 3600) -> float:
    """Wait until the catalogue's job queue is empty (its DataStore loads done); the
    seconds it took."""
    started = time.perf_counter()
    while site.ckan().action.job_list() and time.perf_counter() - started < timeout:
        time.sleep(2)
    return time.perf_counter() - started


@contextlib.contextmanager
def loads_held() -> Iterator[None]:
    """The catalogue's DataStore loads kept from running while the block runs, and the
    job workers started again after.

    Every CSV a benchmark uploads (the seed's way sends 2,000 a run) queues a
    load; on this 2-core machine the workers running them would take the CPU
    the catalogue's web server and the loader are being timed on. A production
    catalogue runs its loads on machines of their own, so the figures are taken
    without them; `bench_wire.py --follow` measures the loads themselves. The
    queue is also emptied every second meanwhile: xloader_submit looks through
    every queued job (seen: 0.1 s a resource_update with an empty queue, 1.5 to
    2 s with a few thousand jobs held), which no production queue holds."""
    line = ckan_stack.LINE
    ckan_stack.stop_worker(line)
    queue = f"rq:queue:ckan:{line.site_id}:default"
    done = threading.Event()

    def empty_queue() -> None:
        while not done.wait(1.0):
            subprocess.run(["redis-cli", "DEL", queue], capture_output=True, check=False)

    subprocess.run(["redis-cli", "DEL", queue], capture_output=True, check=False)
    emptying = threading.Thread(target=empty_queue, daemon=True)
    emptying.start()
    try:
        yield
    finally:
        done.set()
        emptying.join()
        ckan = [str(line.venv / "bin" / "ckan"), "-c", str(line.ini), "jobs", "clear"]
        subprocess.run(ckan, capture_output=True, check=False)
        ckan_stack.start_worker(line)


def checked(ran: Ran, what: str, allowed: tuple[int, ...] = (0,)) -> Ran:
    if ran.code not in allowed:
        raise SystemExit(f"{what} exited {ran.code}:\n{ran.out[-3000:]}")
    return ran


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Network:
    """Where a benchmark reaches the catalogue: loopback, or through the proxy."""

    name: str
    delay_ms: float = 0.0
    up_mbit: float = 0.0

    @property
    def proxied(self) -> bool:
        return self.name != "loopback"

    @property
    def label(self) -> str:
        if not self.proxied:
            return "loopback"
        if not self.delay_ms and not self.up_mbit:
            return "loopback through the proxy (no delay, no limit: for its log)"
        return f"proxy ({self.delay_ms:g} ms a request, {self.up_mbit:g} Mbit/s up)"


class Route:
    """The URL to reach the catalogue by, and, through the proxy, the requests it
    passed so far (`mark` starts a new count)."""

    def __init__(self, site: Site, url: str, log: Path | None):
        self.site, self.url, self.log = site, url, log
        self._seen = 0

    def mark(self) -> None:
        self._seen = len(netproxy.read_log(self.log)) if self.log else 0

    def since_mark(self) -> list[dict[str, Any]]:
        return netproxy.read_log(self.log)[self._seen :] if self.log else []


@contextlib.contextmanager
def route(site: Site, network: Network, log: Path) -> Iterator[Route]:
    """The Route for this network; the proxy (logging to `log`) runs while it is open."""
    if not network.proxied:
        yield Route(site, site.url, None)
        return
    log.unlink(missing_ok=True)
    with netproxy.launched(
        site.url, delay_ms=network.delay_ms, up_mbit=network.up_mbit, log=log
    ) as url:
        yield Route(site, url, log)


def tally(records: list[dict[str, Any]]) -> collections.Counter[str]:
    """Requests by action; a multipart request (a file sent) is counted as `ACTION+file`."""
    counts: collections.Counter[str] = collections.Counter()
    for record in records:
        name = record["action"] or record["path"]
        counts[name + ("+file" if record["type"] == "multipart/form-data" else "")] += 1
    return counts


def show_tally(counts: collections.Counter[str], per: int, unit: str) -> str:
    """`N action (x a UNIT)` for each action, most frequent first."""
    total = sum(counts.values())
    parts = [f"{n} {name}" for name, n in counts.most_common()]
    return f"{total} requests ({total / per:.2f} a {unit}): " + ", ".join(parts)
