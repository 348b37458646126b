import sys

from playground.export.cli import main

sys.exit(main())
