"""``python -m tandemq ...``: the same command line as ``tandemq ...``."""

import sys

from tandemq.cli import main

if __name__ == "__main__":
    sys.exit(main())
