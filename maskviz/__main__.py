import sys

from maskviz.launch import run

sys.exit(run())
