"""``python -m tfxp.serving.deploy --workspace WS``: see ``serving.deploy.generate``."""
import sys

from tfxp.serving.deploy.generate import main

sys.exit(main())
