"""Imports of third-party libraries that warn about something this provider does not use.

``asyncssh`` (imported by the official SFTP provider's hook module, and by the Stampli trigger)
names cryptography's DSA key classes in module-level type annotations. From cryptography 51 on,
each of those names is a deprecated attribute, so importing ``asyncssh`` prints five
``CryptographyDeprecationWarning: DSA is deprecated…`` lines into every task log, although no DSA
key is ever loaded: the SFTP provider refuses DSA host keys and paramiko 4 dropped DSA. The
context manager below ignores exactly that warning, raised from ``asyncssh``'s own modules, while
they are imported; every other warning, and that one from anywhere else, still shows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.utils import CryptographyDeprecationWarning

__all__ = ["ASYNCSSH_DSA_WARNING", "asyncssh_dsa_annotations_quiet"]

ASYNCSSH_DSA_WARNING = r"DSA is deprecated"
"""Start of the message cryptography gives when a DSA class is looked up."""


@contextmanager
def asyncssh_dsa_annotations_quiet() -> Iterator[None]:
    """Import ``asyncssh`` (directly or through the SFTP provider) inside this block.

    :return: a context in which cryptography's DSA deprecation, raised from a module of
        ``asyncssh``, is ignored.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=ASYNCSSH_DSA_WARNING,
            category=CryptographyDeprecationWarning,
            module=r"asyncssh(\.|$)",
        )
        yield
