"""Version of the stand-in ollama program.

A release build (tests/standins/build_releases.py) writes ``_build_info.py``
into the zipapp with the version it bakes in; run from the source tree the
stand-in calls itself SOURCE_VERSION.
"""

SOURCE_VERSION = "0.32.15"

try:  # written by build_releases.py into each release's zipapp
    from ._build_info import VERSION, BROKEN  # type: ignore
except ImportError:  # running from the source tree
    VERSION = SOURCE_VERSION
    BROKEN = False
