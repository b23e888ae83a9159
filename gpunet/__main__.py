"""``python -m gpunet ...``: the same as the ``gpunet`` command."""
import sys

from .cli import main

sys.exit(main())
