"""`python -m fedibridge` is the same as the `fedibridge` command."""

import sys

from fedibridge.cli import main

sys.exit(main())
