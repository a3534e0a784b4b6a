"""python -m glassgen.cli: the same as the glassgen command."""

import sys

from glassgen.cli import main

sys.exit(main())
