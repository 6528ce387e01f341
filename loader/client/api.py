"""The catalogue's actions as the loader uses them, and the contract they meet.

`Catalogue` is a CKAN catalogue reached with one API token: reads (a
dataset, a resource, an organization's datasets, the user, its write
permissions, the DataStore loader it runs and how a resource's last load went),
writes (resource create, update, patch, delete, refresh of `last_modified`,
`package_revise`, a load submitted again, the order of a dataset's resources) and
downloads. `CatalogueAPI` is what the
rest of the loader asks of a catalogue; the tests' in-memory fake meets the
same contract.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from loader.client.errors import CatalogueError, NotFound, UnknownAction, UploadFailed
from loader.client.hosts import address, secure_for_token
from loader.client.loads import LoadStatus, load_status, loader_of
from loader.client.transport import BytesListener, Transport
from loader.errors import UnsafeTarget
from loader.pinned import PinnedFile, pin

SEARCH_PAGE = 100  # datasets per package_search call (CKAN allows up to 1000)
PAGES_AT_ONCE = 4  # package_search pages asked for at once


@dataclass(frozen=True)
class Permissions:
    """Where the token's user may change datasets (and so their resources)."""

    user: str
    anywhere: bool = False  # a sysadmin
    organizations: frozenset[str] = frozenset()  # ids of organizations it edits
    datasets: frozenset[str] = frozenset()  # ids of datasets it edits as a collaborator
    organization_names: tuple[str, ...] = ()  # the organizations it edits, by name (for people)

    def may_write(self, package: dict[str, Any]) -> bool:
        """Whether the user may change this dataset's resources."""
        return (
            self.anywhere
            or package.get("owner_org") in self.organizations
            or package.get("id") in self.datasets
        )


class CatalogueAPI(Protocol):
    """What the loader asks of a catalogue. `Catalogue` is the real one; the tests'
    in-memory fake satisfies the same contract."""

    url: str
    on_bytes: BytesListener | None

    def user(self) -> dict[str, Any]: ...
    def permissions(self) -> Permissions: ...
    def package(self, name_or_id: str) -> dict[str, Any]: ...
    def organization_packages(self, organization_id: str) -> list[dict[str, Any]]: ...
    def resource(self, resource_id: str) -> dict[str, Any]: ...
    def organization(self, name_or_id: str) -> dict[str, Any]: ...
    def dataset_schema(self, dataset_type: str = ...) -> dict[str, Any]: ...
    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str: ...
    def write_resource(
        self, action: str, data: dict[str, Any], upload: PinnedFile | Path | None = ...
    ) -> dict[str, Any]: ...
    def delete_resource(self, resource_id: str) -> None: ...
    def touch_resource(self, resource_id: str, timestamp: str) -> dict[str, Any]: ...
    def version(self) -> str: ...
    def revise_package(self, data: dict[str, Any]) -> dict[str, Any]: ...
    def reorder_resources(self, package_id: str, order: list[str]) -> list[str]: ...
    def download(self, url: str, path: Path) -> int: ...
    def datastore_loader(self) -> str | None: ...
    def load_status(self, resource_id: str) -> LoadStatus | None: ...
    def submit_load(self, resource_id: str) -> bool: ...
    def datastore_total(self, resource_id: str) -> int | None: ...


@contextlib.contextmanager
def bytes_heard_by(catalogue: CatalogueAPI, listener: BytesListener | None) -> Iterator[None]:
    """While inside, `listener` (when given) hears the catalogue's upload bytes; the
    listener before is back afterwards."""
    before = catalogue.on_bytes
    catalogue.on_bytes = listener or before
    try:
        yield
    finally:
        catalogue.on_bytes = before


class Catalogue:
    """A CKAN catalogue reached with one API token.

    Safe to share between threads: each thread gets its own HTTP session, and
    closing the catalogue (or leaving its `with` block) closes them all.
    `on_bytes`, when set, hears the bytes of uploads as they are sent.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        allow_http: bool = False,
    ):
        """Raises UnsafeTarget when `url` is not a plain address (see hosts.py), or when a
        token would cross the network unencrypted: plain http to a host other than
        this machine, unless `allow_http`."""
        try:
            self.url = address(url).url
        except ValueError as error:
            raise UnsafeTarget(str(error)) from None
        if api_key and not allow_http and not secure_for_token(self.url):
            raise UnsafeTarget(
                f"{self.url} is plain http, so your API token would cross the network "
                "unencrypted; use its https:// address (or --allow-http if you must)"
            )
        self._transport = Transport(self.url, api_key, sleep=sleep, on_bytes=self._sent)
        self._has_refresh_action: bool | None = None  # unknown until tried
        self._user: dict[str, Any] | None = None
        self._status: dict[str, Any] | None = None
        self.on_bytes: BytesListener | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"Catalogue({self.url!r})"

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP sessions (the catalogue can still be used: it opens new ones)."""
        self._transport.close()

    @property
    def retries(self) -> int:
        """Calls tried again so far."""
        return self._transport.retries

    def _sent(self, count: int) -> None:
        if self.on_bytes is not None and count:
            self.on_bytes(count)

    def call(self, action: str, data: dict[str, Any] | None = None, *, retry: bool = False) -> Any:
        """Call an action. `retry` marks a read: retried after any failure to get an
        answer; a write is retried only when the catalogue surely did not act."""
        return self._transport.call(action, data, read=retry)

    # --- reads ---------------------------------------------------------------

    def read(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read action whose answer is a dict (retried on a dropped connection)."""
        return _a_dict(action, self.call(action, data, retry=True))

    def user(self) -> dict[str, Any]:
        """The user the token belongs to (asked once: a run's token does not change)."""
        if self._user is None:
            self._user = self.read("user_show")
        return self._user

    def permissions(self) -> Permissions:
        """Where the token's user may write: anywhere for a sysadmin, else the
        organizations it may update datasets of, and datasets it collaborates on."""
        user = self.user()
        name = str(user.get("name", ""))
        if user.get("sysadmin"):
            return Permissions(name, anywhere=True)
        who = user.get("id") or name
        query = {"id": who, "permission": "update_dataset", "include_dataset_count": False}
        organizations = self.call("organization_list_for_user", query, retry=True)
        try:
            shared = self.call(
                "package_collaborator_list_for_user", {"id": who, "capacity": "editor"}, retry=True
            )
        except CatalogueError:  # collaborators are switched off on this catalogue
            shared = []
        return Permissions(
            name,
            organizations=frozenset(o["id"] for o in organizations),
            datasets=frozenset(c["package_id"] for c in shared),
            organization_names=tuple(sorted(str(o.get("name") or o["id"]) for o in organizations)),
        )

    def package(self, name_or_id: str) -> dict[str, Any]:
        return self.read("package_show", {"id": name_or_id})

    def resource(self, resource_id: str) -> dict[str, Any]:
        return self.read("resource_show", {"id": resource_id})

    def organization_packages(self, organization_id: str) -> list[dict[str, Any]]:
        """Every dataset of an organization the token may see, private ones included
        (package_search by owner_org, in name order so pages do not shift).

        The count comes first (a search of no rows), then the pages, several at
        once: the catalogue builds each page's datasets, which is most of an
        export's wait. Should datasets be added meanwhile, the pages go on one at
        a time until one comes back short."""
        query = {"fq": f"owner_org:{organization_id}", "include_private": True, "sort": "name asc"}

        def page(start: int) -> list[dict[str, Any]]:
            found = self.read("package_search", {**query, "rows": SEARCH_PAGE, "start": start})
            return list(found.get("results") or [])

        count = int(self.read("package_search", {**query, "rows": 0}).get("count") or 0)
        starts = range(0, max(count, 1), SEARCH_PAGE)
        with ThreadPoolExecutor(max_workers=PAGES_AT_ONCE, thread_name_prefix="search") as pool:
            pages = list(pool.map(page, starts))
        found = [package for results in pages for package in results]
        while len(pages[-1]) == SEARCH_PAGE:
            pages.append(page(len(found)))
            found.extend(pages[-1])
        return found

    def organization(self, name_or_id: str) -> dict[str, Any]:
        return self.read("organization_show", {"id": name_or_id, "include_datasets": False})

    def _status_show(self) -> dict[str, Any]:
        """status_show, asked once: the release and plugins do not change during a run."""
        if self._status is None:
            self._status = self.read("status_show")
        return self._status

    def version(self) -> str:
        """The CKAN release the catalogue runs (status_show), e.g. "2.10.11"."""
        return str(self._status_show().get("ckan_version", ""))

    # --- the DataStore ---------------------------------------------------------

    def datastore_loader(self) -> str | None:
        """ "xloader" or "datapusher": what loads uploaded tables into the catalogue's
        DataStore, read from its plugins; None when it runs neither."""
        return loader_of(str(p) for p in self._status_show().get("extensions") or [])

    def load_status(self, resource_id: str) -> LoadStatus | None:
        """How the resource's last DataStore load went; None when none was ever queued
        (or the catalogue has no loader). Needs edit rights on the resource."""
        loader = self.datastore_loader()
        if loader is None:
            return None
        try:
            answer = self.read(f"{loader}_status", {"resource_id": resource_id})
        except NotFound:
            return None
        return load_status(answer)

    def submit_load(self, resource_id: str) -> bool:
        """Queue the resource's file for loading into the DataStore again, even if its
        hash says it is loaded already. False when a load is already queued (or there
        is no loader to ask)."""
        loader = self.datastore_loader()
        if loader is None:
            return False
        data = {"resource_id": resource_id, "ignore_hash": True}
        return bool(self.call(f"{loader}_submit", data))

    def datastore_total(self, resource_id: str) -> int | None:
        """How many rows the resource's DataStore table holds; None when it has none."""
        try:
            answer = self.read("datastore_search", {"resource_id": resource_id, "limit": 0})
        except NotFound:
            return None
        total = answer.get("total")
        return int(total) if isinstance(total, int) else None

    def dataset_schema(self, dataset_type: str = "bcdc_dataset") -> dict[str, Any]:
        return self.read("scheming_dataset_schema_show", {"type": dataset_type})

    def resource_page(self, package_type: str, package_name: str, resource_id: str) -> str:
        """The web page of a resource, as the catalogue links it (by dataset type)."""
        return f"{self.url}/{package_type}/{package_name}/resource/{resource_id}"

    def download(self, url: str, path: Path) -> int:
        """Save the file at `url` to `path` (streamed; retried like a read); returns its
        size in bytes. The token is sent only to the catalogue's own address."""
        return self._transport.download(url, path)

    # --- writes ----------------------------------------------------------------

    def write_resource(
        self, action: str, data: dict[str, Any], upload: PinnedFile | Path | None = None
    ) -> dict[str, Any]:
        """resource_create / resource_update / resource_patch, with an optional upload.

        A file pinned when it was checked (`loader.pinned`) is sent only if it is
        still that file, unchanged, and (its SHA-256 known) as those very bytes;
        else FileAltered, with nothing saved. A plain path is pinned as it is now.

        A multipart upload carries only text fields; structured values (lists
        and groups) follow in a second, JSON call on the same resource, since
        the catalogue does not read JSON inside form fields for them. If that
        second call fails, the error carries `partial_resource`.
        """
        if upload is None:
            return _a_dict(action, self.call(action, data))
        # The catalogue stamps last_modified on every upload; a value the editor
        # gives is sent afterwards so that it is the one kept.
        later = {k for k, v in data.items() if isinstance(v, (list, dict)) or k == "last_modified"}
        flat = {k: v for k, v in data.items() if k not in later}
        structured = {k: v for k, v in data.items() if k in later}
        resource = self._upload(action, flat, upload)
        if not structured:
            return resource
        try:
            patch = {"id": resource["id"], **structured}
            return _a_dict("resource_patch", self.call("resource_patch", patch))
        except CatalogueError as error:
            error.partial_resource = resource  # the file and text fields were saved
            raise

    def _upload(
        self, action: str, data: dict[str, Any], upload: PinnedFile | Path
    ) -> dict[str, Any]:
        """Send a file; the catalogue must store as many bytes as were sent."""
        if not isinstance(upload, PinnedFile):
            try:
                upload = pin(upload)
            except OSError as error:
                reason = error.strerror or str(error)
                raise UploadFailed(f"cannot read the file {upload}: {reason}") from None
        answer, sent = self._transport.upload(action, data, upload)
        resource = _a_dict(action, answer)
        stored = resource.get("size")
        if stored not in (None, "") and int(stored) != sent.size:
            mismatch = CatalogueError(
                f"{action}: the catalogue stored {stored} bytes of the file {upload.name}, "
                f"but {sent.size} were sent"
            )
            mismatch.partial_resource = resource
            raise mismatch
        return resource

    def delete_resource(self, resource_id: str) -> None:
        self.call("resource_delete", {"id": resource_id})

    def touch_resource(self, resource_id: str, timestamp: str) -> dict[str, Any]:
        """Set only last_modified: the catalogue's refresh action where it has one
        (the BC Data Catalogue does), else a patch of that one field.

        The refresh action takes `YYYY-MM-DD HH:MM:SS` and quietly leaves a
        DataStore resource alone, so its answer is checked and a patch follows
        when the stamp did not land."""
        stamp = datetime.fromisoformat(timestamp).replace(tzinfo=None)
        if self._has_refresh_action is not False:
            data = {"id": resource_id, "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S")}
            try:
                answer = self.call("update_resource_refresh_timestamp", data)
                self._has_refresh_action = True
                if isinstance(answer, dict) and _stamp_of(answer) == stamp:
                    return answer
            except UnknownAction:
                self._has_refresh_action = False
        patch = {"id": resource_id, "last_modified": stamp.isoformat()}
        return _a_dict("resource_patch", self.call("resource_patch", patch))

    def revise_package(self, data: dict[str, Any]) -> dict[str, Any]:
        """package_revise: several resource changes to one dataset in one transaction.
        Returns the dataset as saved."""
        answer = _a_dict("package_revise", self.call("package_revise", data))
        return _a_dict("package_revise", answer.get("package"))

    def reorder_resources(self, package_id: str, order: list[str]) -> list[str]:
        """package_resource_reorder: the dataset's resources in this order (ids), any
        it holds besides them after, as they were. One write of the dataset, which
        the catalogue makes on the dataset as it is then (CKAN 2.10 and 2.12 alike;
        package_revise could set the order too, but only by sending every resource
        whole). Returns the order saved."""
        answer = _a_dict(
            "package_resource_reorder",
            self.call("package_resource_reorder", {"id": package_id, "order": order}),
        )
        return [str(i) for i in answer.get("order") or []]


def _stamp_of(resource: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(resource.get("last_modified"))).replace(tzinfo=None)
    except ValueError:
        return None


def _a_dict(action: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise CatalogueError(f"{action}: unexpected answer from the catalogue")
    return answer
