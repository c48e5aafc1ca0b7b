"""``python -m ml_connector_sandbox``: run the stand-ins until interrupted, or ``… demo`` to run the demo."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence


def _logs_to_stderr() -> None:
    """Send log records and warnings (a library's deprecation notice, say) to standard error:
    standard output carries the command's result alone (``--json``: one JSON document)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``demo …`` to :func:`ml_connector_sandbox.demo.main`, anything else to the runner."""
    args = list(sys.argv[1:] if argv is None else argv)
    _logs_to_stderr()
    if args[:1] == ["demo"]:
        from ml_connector_sandbox.demo import main as demo_main

        return demo_main(args[1:])
    from ml_connector_sandbox.runner import main as runner_main

    return runner_main(args)


if __name__ == "__main__":
    sys.exit(main())
