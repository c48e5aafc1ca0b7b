"""``python -m ml_connector_sandbox``: run the sandbox systems until interrupted."""

from __future__ import annotations

import sys

from ml_connector_sandbox.runner import main

if __name__ == "__main__":
    sys.exit(main())
