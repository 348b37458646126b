import sys

from playground.train.cli import main

sys.exit(main())
