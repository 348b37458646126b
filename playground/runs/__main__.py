import sys

from playground.runs.cli import main

sys.exit(main())
