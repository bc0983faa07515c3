"""`python -m api.cli`: the same as the `tiktok-analyzer` command."""

import sys

from api.cli.commands import main

sys.exit(main())
