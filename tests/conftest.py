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


import pytest  # noqa: E402

from ansible.module_utils import _internal as _module_internal  # noqa: E402


@pytest.fixture(autouse=True)
def _modules_run_as_on_a_target(monkeypatch):
    """Run every test as a module runs on a target, whatever an earlier test imported.

    Importing controller code (ansible.errors, for the filter tests) marks the
    process as the controller; from then on module warnings would go to the
    display instead of into the module's result, and tests that read them
    would fail depending on their order.
    """
    monkeypatch.setattr(_module_internal, "is_controller", False)
