"""`python -m playground.schema`: the command lives in ``playground.format.schema``."""

import sys

from playground.format.schema import main

if __name__ == "__main__":
    sys.exit(main())
