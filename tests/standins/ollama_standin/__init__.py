"""Stand-in for the ``ollama`` program, for tests of localllm.workstation.

This package is a stand-in: it imitates the parts of Ollama that a provisioning
tool can see from outside (the ``serve`` command and its settings, the log line
with the effective settings, the HTTP API, the on-disk model store, pulls from
an OCI registry and a few CLI commands). It runs no model and uses no GPU.
Standard library only; runs on Python 3.11 and later.
"""

from .version import VERSION, BROKEN  # noqa: F401
