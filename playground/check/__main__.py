import sys

from playground.check.cli import main

sys.exit(main())
