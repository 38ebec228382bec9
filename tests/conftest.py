"""Make the clone importable as ansible_collections.localllm.workstation.

The repository's collections/ folder holds a link back to the repository root,
so Python code in plugins/ imports exactly as it does once installed.
"""

import os
import sys

_COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

# Shared test helpers (tests/unit/module_runner.py) import by their plain name.
_UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit")
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)
