import sys

from arbtree.cli import main

sys.exit(main())
