"""`python -m playground.compare`: the command lives in ``playground.runs.compare``."""

import sys

from playground.runs.compare import main

if __name__ == "__main__":
    sys.exit(main())
