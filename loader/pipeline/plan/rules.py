"""What the catalogue will refuse, found while planning, before anything is sent.

A dataset of another organization than the row says; a write the token's
user may not make; a patch that would leave the resource incomplete by the
rules the web form applies; and, on CKAN before 2.11, a dataset that holds a
resource breaking today's rules, which makes the catalogue refuse every
write to it without saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from loader import problems
from loader.client import Permissions
from loader.pipeline.diff import same
from loader.pipeline.operations import Action, Operation, RowFailure
from loader.pipeline.plan.state import DatasetState
from loader.pipeline.validate import resource_problems
from loader.schema import Schema
from loader.text import quote


def failing_resources(
    schema: Schema, resources: Iterable[dict[str, Any]]
) -> tuple[tuple[str, str], ...]:
    """The resources that break today's rules, each with what is wrong with it."""
    out = []
    for resource in resources:
        found = resource_problems(schema, resource)
        if found:
            name = resource.get("name") or resource["id"]
            text = f"resource '{name}' ({resource['id']}): " + "; ".join(found)
            out.append((str(resource["id"]), text))
    return tuple(out)


def check_organization(state: DatasetState, organization: dict[str, Any], written: str) -> None:
    """Fail the row when the dataset belongs to another organization than the one named."""
    owner = state.package.get("owner_org")
    if owner != organization["id"]:
        owner_name = (state.package.get("organization") or {}).get("name", owner)
        raise RowFailure(
            problems.WRONG_ORGANIZATION, package=state.name, owner=owner_name, organization=written
        )


def check_may_write(operation: Operation, package: dict[str, Any], allowed: Permissions) -> None:
    """Fail, before anything is sent, a write the token's user may not make."""
    if operation.action == Action.NOOP or allowed.may_write(package):
        return
    reordering = operation.action == Action.REORDER
    failure = RowFailure(
        problems.MAY_NOT_WRITE,
        action="put" if reordering else operation.action,
        what="its resources in order"
        if reordering
        else f"resource '{quote(operation.resource_name or '')}'",
        user=allowed.user,
        package=operation.package_name,
        organization=(package.get("organization") or {}).get("name", package.get("owner_org")),
    )
    failure.action = operation.describe("would")
    raise failure


def check_whole(schema: Schema, patched: dict[str, Any]) -> None:
    """A patch must leave the resource whole: the rules the web form applies
    (geographic needs a projection...) hold for the resource as patched."""
    missing = [name for name in schema.unmet(patched) if same(patched.get(name), None)]
    if missing:
        raise RowFailure(
            problems.INCOMPLETE_AFTER_PATCH,
            kind=patched.get("bcdc_type", ""),
            fields=", ".join(dict.fromkeys(missing)),
            them="it" if len(missing) == 1 else "them",
        )


def blocked(operation: Operation) -> Operation:
    """The operation, saying which of its dataset's other resources will make the
    catalogue refuse it (on a catalogue that refuses such writes)."""
    warning = problems.BLOCKED_BY_INVALID.message(
        package=operation.package_name, resources="; ".join(operation.blocked_by)
    )
    return dataclasses.replace(operation, note=f"but {warning}")
