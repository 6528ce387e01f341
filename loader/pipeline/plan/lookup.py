"""The planner's reads of the catalogue, each made once.

Datasets by name or id (those a batch names are looked up four at a time
before the rows are planned), the dataset a resource id belongs to,
organizations, where the token may write, whether the catalogue's CKAN
refuses writes beside an invalid resource, and how it spells its choices. A
read that fails fails the row that needed it, in the editor's words
(`operations.look_up`); planning never writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loader.client import CatalogueAPI, CatalogueError, Permissions
from loader.errors import SchemaError
from loader.pipeline.operations import look_up
from loader.schema import Schema, choice_key, schema_from_scheming

# Datasets read at once while planning. The reads of a whole batch are mostly
# waiting (on the network, or on the catalogue's workers): four keep a remote
# catalogue busy without queueing at a local one, whose few workers are the limit.
READS_AT_ONCE = 4


class Lookups:
    """What the planner reads of one catalogue, each thing read once."""

    def __init__(self, catalogue: CatalogueAPI, schema: Schema):
        self.catalogue = catalogue
        self.schema = schema
        self._packages: dict[str, dict[str, Any]] = {}  # by name or id as written, name, id
        self._fetched: dict[str, dict[str, Any]] = {}  # looked up ahead, not yet asked for
        self._organizations: dict[str, dict[str, Any]] = {}
        self._permissions: Permissions | None = None
        self._old_ckan: bool | None = None
        self._spellings: dict[str, dict[str, str]] | None = None

    def prefetch(self, names: Iterable[str], threads: int = READS_AT_ONCE) -> None:
        """Look several datasets up at once (reads only, so lanes do not matter);
        a name that cannot be looked up is left for its row to fail on."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._packages]
        if len(wanted) < 2:
            return
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="look-up") as pool:
            found = list(pool.map(self.fetch, wanted))
        for name, package in zip(wanted, found, strict=True):
            if package is not None:
                self.fetched(name, package)

    def fetch(self, name: str) -> dict[str, Any] | None:
        """A dataset read ahead of its rows (from any thread); None when it cannot be
        read, which its rows then say, in their own words, when they are planned."""
        try:
            return self.catalogue.package(name)
        except CatalogueError:
            return None

    def fetched(self, name: str, package: dict[str, Any]) -> None:
        """A dataset read ahead (`fetch`), kept until a row asks for it by `name`."""
        self._fetched[name] = package

    def read_once(self) -> None:
        """Ask now what planning asks once whatever the rows (where the token may
        write, how the catalogue spells its choices), e.g. beside the first reads."""
        self.permissions()
        self.spell({})

    def package(self, name_or_id: str) -> dict[str, Any]:
        """The dataset a row names, by name or id, as first read."""
        package = self._packages.get(name_or_id)
        if package is None:
            package = self._fetched.pop(name_or_id, None) or look_up(
                "dataset", self.catalogue.package, name_or_id
            )
            package = self._packages.get(package["id"], package)
            for alias in (name_or_id, package["name"], package["id"]):
                self._packages[alias] = package
        return package

    def package_of_resource(self, resource_id: str) -> str:
        """The id of the dataset holding a resource, found by the resource's id."""
        return str(look_up("resource id", self.catalogue.resource, resource_id)["package_id"])

    def organization(self, name_or_id: str) -> dict[str, Any]:
        """An organization a row names."""
        if name_or_id not in self._organizations:
            self._organizations[name_or_id] = look_up(
                "organization", self.catalogue.organization, name_or_id
            )
        return self._organizations[name_or_id]

    def permissions(self) -> Permissions:
        """Where the token's user may write; anywhere when the catalogue cannot say
        (it will decide when the row runs)."""
        if self._permissions is None:
            try:
                self._permissions = self.catalogue.permissions()
            except CatalogueError:
                self._permissions = Permissions("", anywhere=True)
        return self._permissions

    def refuses_for_siblings(self) -> bool:
        """Whether the catalogue refuses every write to a dataset holding a resource that
        breaks today's rules: CKAN before 2.11 revalidates the whole dataset."""
        if self._old_ckan is None:
            try:
                version = str(self.catalogue.version())
                self._old_ckan = tuple(int(p) for p in version.split(".")[:2]) < (2, 11)
            except (CatalogueError, ValueError):
                self._old_ckan = True  # say so rather than be surprised
        return self._old_ckan

    def spell(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Choice values in the spelling the target catalogue lists (`epsg26710,` on
        the BC Data Catalogue), whichever spelling the row used (changed in place)."""
        if self._spellings is None:
            live = self.schema
            if self.schema.source != self.catalogue.url:  # not already read from it
                # no schema to read: keep the spelling given
                with contextlib.suppress(CatalogueError, SchemaError):
                    live = schema_from_scheming(self.catalogue.dataset_schema())
            self._spellings = {
                f.name: {choice_key(c): c for c in f.choices} for f in live.fields if f.choices
            }
        for name, value in fields.items():
            table = self._spellings.get(name)
            if table and isinstance(value, str):
                fields[name] = table.get(choice_key(value), value)
            elif table and isinstance(value, list):
                fields[name] = [
                    table.get(choice_key(v), v) if isinstance(v, str) else v for v in value
                ]
        return fields
