import sys

from playground.sweep.cli import main

sys.exit(main())
