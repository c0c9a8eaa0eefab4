import sys

from resdsl.cli import main

sys.exit(main())
