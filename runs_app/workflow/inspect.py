"""Read a workflow file's topology in a short-lived process and print it as JSON.

``python -m runs_app.workflow.inspect PATH`` prints
``{"workflows": [topology, ...]}`` or ``{"error": "..."}`` (exit 0 either way,
exit 2 for bad usage). The web process calls this instead of importing
workflow code itself (SPEC §4).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import WorkflowError
from .loader import load_workflows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(json.dumps({"error": "usage: python -m runs_app.workflow.inspect PATH"}))
        return 2
    path = Path(argv[0])
    try:
        source = path.read_bytes()
        workflows = load_workflows(source, filename=str(path), search_path=str(path.parent))
        result = {"workflows": [{**wf.topology(), "topology_hash": wf.topology_hash()} for wf in workflows.values()]}
    except (OSError, WorkflowError) as exc:
        result = {"error": str(exc)}
    print(json.dumps(result, default=repr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
