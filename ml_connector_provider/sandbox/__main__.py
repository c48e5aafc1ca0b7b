"""``python -m ml_connector_provider.sandbox``: run the sandbox systems until interrupted."""

from __future__ import annotations

import sys

from ml_connector_provider.sandbox.runner import main

if __name__ == "__main__":
    sys.exit(main())
