"""The main job, for now: show where the local catalogue is.

It grows into loading every batch in sample_batches/ as the loader lands.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ckan_stack  # noqa: E402

credentials = json.loads(ckan_stack.CREDENTIALS.read_text())
print(f"Local catalogue: {credentials['url']}")
print(f"Datasets: {', '.join(credentials['packages'])}")
