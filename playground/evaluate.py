"""`python -m playground.evaluate`: the command lives in ``playground.train.evaluate``."""

import sys

from playground.train.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
