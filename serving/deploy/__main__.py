"""``python -m serving.deploy --workspace WS``: see ``serving.deploy.generate``."""
import sys

from serving.deploy.generate import main

sys.exit(main())
