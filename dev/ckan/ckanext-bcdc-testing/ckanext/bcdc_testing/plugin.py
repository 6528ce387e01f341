"""TEST INFRASTRUCTURE ONLY. Never install this on a real catalogue.

CKAN (2.10 and 2.12 alike) cannot run without Solr: every dataset write indexes
the dataset and fails without a search server, and `package_search` asks Solr. The machines
this project is tested on have no Solr, so this plugin, at configure time:

- swaps the package search index for CKAN's own no-op index, so writes succeed
  (also where code builds the index class itself, as ckanext-xloader does on
  2.10 after a load);
- swaps the package query for `PostgresPackageQuery`, which answers the small
  set of filters that bcdc-loader and its tests use (owner_org, name, id, type,
  state, capacity; rows/start; sort by name or metadata_modified; facet counts
  for owner_org and groups) straight from PostgreSQL. Anything else is refused
  loudly rather than answered wrongly. Result dicts come from the
  `package_show` action, which both CKAN lines have (2.10 lacks the helper
  `ckan.logic.package_show_default_and_custom_schemas` that 2.12 offers).
"""

from __future__ import annotations

import json
import re
from typing import Any

import ckan.lib.search as search
import ckan.model as model
import ckan.plugins as plugins
from ckan.lib.plugins import get_permission_labels
from ckan.lib.search.index import NoopSearchIndex
from ckan.lib.search.query import PackageSearchQuery, SearchQueryError

# "+owner_org:abc", "owner_org:\"abc\"", "+state:(active OR draft)", "-type:x"
_CLAUSE = re.compile(r'([+-]?)([\w.]+):("[^"]*"|\([^)]*\)|\S+)')
_COLUMNS = {
    "owner_org": model.Package.owner_org,
    "name": model.Package.name,
    "id": model.Package.id,
    "type": model.Package.type,
    "dataset_type": model.Package.type,
    "state": model.Package.state,
}
_SORTS = {"name", "title", "metadata_modified", "metadata_created"}
_IGNORED = {"site_id", "entity_type"}


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("("):
        return [v.strip('"') for v in raw[1:-1].split(" OR ") if v.strip()]
    return [raw.strip('"')]


def _clauses(query: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    fq = query.get("fq") or []
    text = " ".join([fq] if isinstance(fq, str) else fq)
    q = query.get("q") or "*:*"
    if q not in ("*:*", '""', "''"):
        if ":" not in q:
            raise SearchQueryError(f"test search stand-in: free-text q={q!r} is not supported")
        text += " " + q
    return [(sign, field, _values(raw)) for sign, field, raw in _CLAUSE.findall(text)]


class PostgresPackageQuery(PackageSearchQuery):
    """Answers package_search from PostgreSQL (test stand-in for Solr)."""

    def run(self, query, permission_labels=None, **kwargs):  # noqa: ANN001
        rows = int(query.get("rows", 10))
        start = int(query.get("start", 0))
        sql = model.Session.query(model.Package)
        capacity = None
        for sign, field, values in _clauses(query):
            if field in _IGNORED:
                continue
            if field == "capacity":
                capacity = values[0]
                continue
            column = _COLUMNS.get(field)
            if column is None:
                raise SearchQueryError(f"test search stand-in: filter {field!r} is not supported")
            condition = column.in_(values)
            sql = sql.filter(~condition if sign == "-" else condition)
        if capacity == "public":
            sql = sql.filter(model.Package.private.is_(False))
        sql = sql.order_by(*self._order(query.get("sort")))

        packages = sql.all()
        if permission_labels is not None:
            labeller = get_permission_labels()
            allowed = set(permission_labels)
            packages = [p for p in packages if allowed & set(labeller.get_dataset_labels(p))]

        self.count = len(packages)
        self.facets = self._facets(query, packages)
        page = packages[start : start + rows] if rows > 0 else []
        context = {"ignore_auth": True, "use_cache": False}
        show = plugins.toolkit.get_action("package_show")
        self.results = []
        for package in page:
            data = json.dumps(show(dict(context), {"id": package.id}))
            self.results.append({"id": package.id, "validated_data_dict": data, "data_dict": data})
        return {"results": self.results, "count": self.count}

    @staticmethod
    def _order(sort: str | None) -> list[Any]:
        order = []
        for part in (sort or "").split(","):
            words = part.split()
            if len(words) == 2 and words[0] in _SORTS:
                column = getattr(model.Package, words[0])
                order.append(column.desc() if words[1] == "desc" else column.asc())
        return order or [model.Package.metadata_modified.desc()]

    @staticmethod
    def _facets(query: dict[str, Any], packages: list[model.Package]) -> dict[str, Any]:
        fields = query.get("facet.field") or []
        if isinstance(fields, str):
            fields = json.loads(fields) if fields.startswith("[") else [fields]
        facets: dict[str, Any] = {}
        for field in fields:
            counts: dict[str, int] = {}
            for package in packages:
                if field == "owner_org" and package.owner_org:
                    keys = [package.owner_org]
                elif field == "organization" and package.owner_org:
                    org = model.Group.get(package.owner_org)
                    keys = [org.name] if org else []
                elif field == "groups":
                    keys = [g.name for g in package.get_groups("group")]
                else:
                    keys = []
                for key in keys:
                    counts[key] = counts.get(key, 0) + 1
            facets[field] = counts
        return facets


class NoopPackageIndex(NoopSearchIndex):
    """The no-op index, answering the package index's own calls too (xloader makes
    one directly on 2.10, to re-index a dataset after a load)."""

    def index_package(self, pkg_dict, defer_commit=False):  # noqa: ANN001
        pass

    def commit(self):
        pass

    def delete_package(self, pkg_dict):  # noqa: ANN001
        pass


class PostgresSearchPlugin(plugins.SingletonPlugin):
    """Runs the test catalogue without Solr (see the module docstring)."""

    plugins.implements(plugins.IConfigurable)

    def configure(self, config):  # noqa: ANN001
        search._INDICES["package"] = NoopSearchIndex
        search.PackageSearchIndex = NoopPackageIndex
        search._QUERIES["package"] = PostgresPackageQuery
        search.PackageSearchQuery = PostgresPackageQuery
