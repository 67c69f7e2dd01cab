"""``python -m symjac``: the symjac command line (see :mod:`symjac.cli`)."""

import sys

from symjac.cli import main

if __name__ == "__main__":
    sys.exit(main())
