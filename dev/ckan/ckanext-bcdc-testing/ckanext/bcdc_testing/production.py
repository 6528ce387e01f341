"""TEST INFRASTRUCTURE ONLY: production's custom action, imitated for the local catalogue.

The BC Data Catalogue has an action `update_resource_refresh_timestamp(id,
timestamp)` that a plain CKAN lacks. It sets one resource's `last_modified`
and leaves the rest of the resource as it is. This imitation follows what is
known of the production action:

- `timestamp` is written `YYYY-MM-DD HH:MM:SS` (e.g. `2026-01-31 08:00:00`);
- a resource in the DataStore (`datastore_active`) is left unchanged;
- the write goes through `resource_update` with the resource as it stands, so
  it is checked and authorised like any resource write (on CKAN 2.10 a
  dataset holding an invalid old resource refuses it too);
- the answer is the resource as `resource_show` gives it;
- a timestamp in any other form is not caught: HTTP 500, as the extension's
  published source reads.
"""

from __future__ import annotations

import datetime
from typing import Any

import ckan.plugins as plugins
from ckan.plugins import toolkit

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def update_resource_refresh_timestamp(context: dict, data_dict: dict[str, Any]) -> dict:
    """Set a resource's last_modified (imitation of the production action)."""
    resource_id = data_dict.get("id")
    resource = toolkit.get_action("resource_show")(dict(context), {"id": resource_id})
    if resource.get("datastore_active"):
        return resource
    stamp = datetime.datetime.strptime(str(data_dict.get("timestamp")), TIMESTAMP_FORMAT)
    resource["last_modified"] = stamp.isoformat()
    toolkit.get_action("resource_update")(dict(context), resource)
    return toolkit.get_action("resource_show")(dict(context), {"id": resource_id})


class ProductionActionsPlugin(plugins.SingletonPlugin):
    """Adds the production catalogue's custom action (see the module docstring)."""

    plugins.implements(plugins.IActions)

    def get_actions(self) -> dict:
        return {"update_resource_refresh_timestamp": update_resource_refresh_timestamp}
