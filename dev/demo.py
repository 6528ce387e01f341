"""The main job: load the sample batches into the local catalogue.

Runs `bcdc-loader run` on each batch in sample_batches/, in order (the
workbook patches resources the CSV creates), as the catalogue's editor user,
and writes each result workbook to results/. The batches use upsert and
patch, so running the demo again changes nothing new.

Then it shows what the catalogue's DataStore made of the uploaded tables:
it waits for each load (`xloader_status`) and prints the rows
`datastore_search` counts, or why the load failed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import ckan_stack  # noqa: E402

BATCHES = ["new-resources.csv", "monthly-refresh.xlsx"]

# the line BCDC_CKAN_LINE names (`make demo CKAN_LINE=2.10`), 2.12 by default
credentials = json.loads(ckan_stack.LINE.credentials.read_text())
results = ROOT / "results"
results.mkdir(exist_ok=True)
# The token travels in the environment, never on a command line.
env = dict(os.environ, CKAN_API_KEY=credentials["editor"]["token"], CKAN_URL=credentials["url"])
loader = Path(sys.executable).parent / "bcdc-loader"
worst = 0
for name in BATCHES:
    batch = ROOT / "sample_batches" / name
    output = results / f"{batch.stem}-results.xlsx"
    print(f"\n$ bcdc-loader run sample_batches/{name} -o results/{output.name}", flush=True)
    code = subprocess.run([str(loader), "run", str(batch), "-o", str(output)], env=env).returncode
    worst = max(worst, code)
url, token = credentials["url"], credentials["editor"]["token"]
print(f"\nCatalogue: {url} (user {credentials['editor']['name']})")
for name, owner in credentials["packages"].items():
    print(f"  {url}/dataset/{name}  ({owner})")


def datastore_state(resource: dict) -> str:
    """The resource's last DataStore load, in plain words, as the catalogue tells it."""
    status = ckan_stack.wait_for_load(url, token, resource["id"], timeout=60)
    if status["status"] == "complete":
        found = ckan_stack.action(
            url, "datastore_search", token, resource_id=resource["id"], limit=0
        )
        return f"loaded, {found['total']} rows (datastore_search)"
    if status["status"] == "error":
        return f"load failed: {str(status['error'])[:120]}"
    return f"still {status['status']} after 60 s"


print("\nDataStore (uploaded tables, once each load has finished):")
for name in credentials["packages"]:
    for resource in ckan_stack.action(url, "package_show", token, id=name)["resources"]:
        if resource["url_type"] == "upload" and resource["format"] in ckan_stack.LOADED_FORMATS:
            print(f"  {name} / {resource['name']}: {datastore_state(resource)}", flush=True)
sys.exit(worst)
