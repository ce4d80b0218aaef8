"""``python -m labelnext.cli``: the same as the ``labelnext`` console script."""

import sys

from labelnext.cli import main

sys.exit(main())
