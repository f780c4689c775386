"""``python -m benchmark`` is ``bench``."""

import sys

from benchmark.cli import main

if __name__ == "__main__":  # guard: spawned worker processes import this module again
    sys.exit(main())
