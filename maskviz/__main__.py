import sys

from maskviz.cli import main

sys.exit(main())
