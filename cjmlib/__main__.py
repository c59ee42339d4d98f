"""``python -m cjmlib`` is the same as ``cjm``."""

import sys

from cjmlib.workflow.cli import main

sys.exit(main())
