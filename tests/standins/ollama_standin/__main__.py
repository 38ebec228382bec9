"""``python3 -m ollama_standin`` runs the stand-in ollama CLI."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
