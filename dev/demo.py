"""The main job: load the sample batches into the local catalogue.

Runs `bcdc-loader run` on each batch in sample_batches/, in order (the
workbook patches resources the CSV creates), as the catalogue's editor user,
and writes each result workbook to results/. The batches use upsert and
patch, so running the demo again changes nothing new.
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
print(f"\nCatalogue: {credentials['url']} (user {credentials['editor']['name']})")
for name, owner in credentials["packages"].items():
    print(f"  {credentials['url']}/dataset/{name}  ({owner})")
sys.exit(worst)
