"""Run one fedibridge command in this process, then print which modules it imported.

``python -m tests.modules_runner ARG...`` runs ``fedibridge ARG...`` and prints, as the last
line of standard output, a JSON object: the command's exit code and the sorted names of every
module loaded by then. Tests use it in a fresh interpreter to check what a run imports.
"""

from __future__ import annotations

import json
import sys

from fedibridge.cli import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
