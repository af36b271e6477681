"""`python -m xorlab.serve`: the same as `xorlab-serve`."""

import sys

from xorlab.serve.cli import main

sys.exit(main())
