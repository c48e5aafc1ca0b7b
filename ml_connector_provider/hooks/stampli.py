"""Hook for the Stampli SFTP server, built on the official SFTP provider's :class:`SFTPHook`.

Stampli has no public API: approved invoices are exported as CSV files to an *outbound*
directory of an SFTP server, and master data is imported from an *inbound* directory. The
transport, directory names, file naming and export timing are agreed per customer; no public
source describes them (UNCONFIRMED, an assumption of this project).

Two parts live here:

* a pure, I/O-free core shared by the hook, :class:`~ml_connector_provider.sensors.stampli.StampliFileSensor`,
  :class:`~ml_connector_provider.triggers.stampli.StampliFileTrigger` and the invoices stream:
  :class:`RemoteFile`, :func:`ready_files` (which export files are complete) and
  :func:`not_ready_reasons` (why the others are not, for logs), :class:`ExportWatch` (successive
  looks at one directory, for the sensor and the trigger), plus :func:`collision_free_name`;
* :class:`StampliHook`, which lists, downloads, moves and atomically writes files over one
  managed paramiko connection.

When a file is complete. Stampli gives no signal that an export is fully written, so a file
counts as complete either when a marker file ``<name><marker_suffix>`` exists next to it (when the
tenant's exports write one), or when it has not been modified for ``min_age`` seconds and, when an
earlier listing is at hand, its size and modification time have not changed since. Names that
start with a dot are never export files: uploads in flight often use such temporary names.

Connections use the official ``sftp`` connection type (host, port, login, password or key, and
the ``host_key`` extra). The server's host key is always verified unless the connection itself
sets ``no_host_key_check``: pin the key in the ``host_key`` extra (see ``docs/connections.md``).

Modification times are POSIX seconds as the server sends them; nothing here depends on the
worker's time zone.
"""

from __future__ import annotations

import errno
import hashlib
import io
import posixpath
import secrets
import socket
import stat as stat_module
import tempfile
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import IO, TYPE_CHECKING, Any, Protocol

from ml_connector_provider.extras import missing_extra
from ml_connector_provider.quiet_imports import asyncssh_dsa_annotations_quiet
from ml_connector_provider.transport import redact_text

try:
    import paramiko

    with asyncssh_dsa_annotations_quiet():  # the SFTP provider's module imports asyncssh
        from airflow.providers.sftp.hooks.sftp import SFTPHook
except ImportError as _err:
    raise missing_extra("sftp", "The Stampli (SFTP) hook", _err) from _err

if TYPE_CHECKING:
    from paramiko.sftp_attr import SFTPAttributes
    from paramiko.sftp_client import SFTPClient

__all__ = [
    "DEFAULT_SPOOL_LIMIT",
    "HOST_KEY_HINT",
    "DownloadedFile",
    "ExportWatch",
    "HostKeyVerificationError",
    "RemoteFile",
    "SftpAuthenticationError",
    "SftpConnectionError",
    "SftpNotFoundError",
    "SftpPermissionError",
    "SftpUnreachableError",
    "SftpWriteError",
    "StampliHook",
    "StampliSftpError",
    "check_watch_arguments",
    "collision_free_name",
    "describe_sftp_error",
    "is_export_candidate",
    "listing_signatures",
    "not_ready_reasons",
    "ready_files",
]

DEFAULT_SPOOL_LIMIT = 8 * 2**20
"""Bytes of a download kept in memory before it spills to a temporary file."""
_CHUNK = 256 * 1024

HOST_KEY_HINT = (
    "pin the server's public host key in the connection's host_key extra, e.g. "
    '"ssh-ed25519 AAAA…" (the key part of `ssh-keyscan -p <port> <host>` output, checked with '
    "the server's administrator), or add the server to the worker's known_hosts file"
)
"""How to fix an SFTP server that is not trusted (used in error messages)."""

# -- the pure core ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """One regular file in a directory listing of the SFTP server.

    :param name: the file name only.
    :param path: the full remote path (POSIX).
    :param size: size in bytes.
    :param mtime: modification time, POSIX seconds (UTC) as the server reports it.
    """

    name: str
    path: str
    size: int
    mtime: float

    @property
    def signature(self) -> tuple[int, float]:
        """``(size, mtime)``: what a later listing compares to tell whether the file changed."""
        return (self.size, self.mtime)


def is_export_candidate(name: str, *, pattern: str, marker_suffix: str | None = None) -> bool:
    """Whether a file name can be an export file at all.

    Never ``.``/``..``, never a name starting with ``.`` (in-flight uploads), never a marker file
    (a name ending with ``marker_suffix``); otherwise the name must match the fnmatch ``pattern``
    (case-sensitively, the same on every platform).
    """
    if not name or name.startswith("."):
        return False
    if marker_suffix and name.endswith(marker_suffix):
        return False
    return fnmatchcase(name, pattern)


def _assess(
    listing: Sequence[RemoteFile],
    *,
    pattern: str,
    now: float,
    min_age: float,
    marker_suffix: str | None,
    previous: Mapping[str, tuple[int, float]] | None,
) -> tuple[list[RemoteFile], dict[str, str]]:
    """The complete export files (oldest first) and, by name, why the other ones are not."""
    if min_age < 0:
        raise ValueError(f"min_age must be zero or more seconds, not {min_age!r}")
    if marker_suffix is not None and not marker_suffix:
        raise ValueError("marker_suffix must be None or a non-empty suffix such as '.done'")
    names = {f.name for f in listing}
    complete: list[RemoteFile] = []
    reasons: dict[str, str] = {}
    for file in listing:
        if not is_export_candidate(file.name, pattern=pattern, marker_suffix=marker_suffix):
            continue
        reason: str | None = None
        if marker_suffix:
            if file.name + marker_suffix not in names:
                reason = f"waiting for its marker file {file.name + marker_suffix!r}"
        else:
            age = now - file.mtime
            if age < 0:
                reason = f"modified {-age:.0f}s in the future (clock skew between the server and the worker?)"
            elif age < min_age:
                reason = f"modified {age:.0f}s ago; files are read once unchanged for {min_age:g}s"
            elif previous is not None:
                seen = previous.get(file.name)
                if seen is None:
                    reason = "not in the previous listing; checking once more that it is not still growing"
                elif tuple(seen) != file.signature:
                    reason = (
                        f"changed since the previous listing (size {seen[0]} → {file.size} bytes, "
                        f"mtime {seen[1]:.0f} → {file.mtime:.0f})"
                    )
        if reason is None:
            complete.append(file)
        else:
            reasons[file.name] = reason
    return sorted(complete, key=lambda f: (f.mtime, f.name)), dict(sorted(reasons.items()))


def ready_files(
    listing: Sequence[RemoteFile],
    *,
    pattern: str,
    now: float,
    min_age: float,
    marker_suffix: str | None = None,
    previous: Mapping[str, tuple[int, float]] | None = None,
) -> list[RemoteFile]:
    """The complete export files of a directory listing, oldest first.

    A file is an export file when :func:`is_export_candidate` says so. It is complete when:

    * with ``marker_suffix``: a file named ``<name><marker_suffix>`` is in the listing (its age
      and any earlier listing then do not matter);
    * without it: ``now - mtime >= min_age`` and, when ``previous`` is given, the file was in
      that earlier listing with the same size and modification time.

    :param listing: the regular files of one directory.
    :param pattern: fnmatch pattern of export files, e.g. ``*.csv``.
    :param now: the current time, POSIX seconds.
    :param min_age: seconds since the last modification before a file counts as complete.
    :param marker_suffix: suffix of marker files (e.g. ``.done``), or ``None``.
    :param previous: name → ``(size, mtime)`` from an earlier listing of the same directory.
    :return: the complete files sorted by ``(mtime, name)``.
    :raises ValueError: for a negative ``min_age`` or an empty ``marker_suffix``.
    """
    complete, _ = _assess(
        listing, pattern=pattern, now=now, min_age=min_age, marker_suffix=marker_suffix, previous=previous
    )
    return complete


def not_ready_reasons(
    listing: Sequence[RemoteFile],
    *,
    pattern: str,
    now: float,
    min_age: float,
    marker_suffix: str | None = None,
    previous: Mapping[str, tuple[int, float]] | None = None,
) -> dict[str, str]:
    """Why the export files that :func:`ready_files` leaves out are not complete yet (for logs).

    Takes the same arguments as :func:`ready_files`.

    :return: file name → reason, in name order; files that are not export files are not listed.
    """
    _, reasons = _assess(
        listing, pattern=pattern, now=now, min_age=min_age, marker_suffix=marker_suffix, previous=previous
    )
    return reasons


def listing_signatures(listing: Iterable[RemoteFile]) -> dict[str, tuple[int, float]]:
    """name → ``(size, mtime)`` of a listing, the ``previous`` argument of a later look."""
    return {file.name: file.signature for file in listing}


def check_watch_arguments(
    *, path: object, file_pattern: object, marker_suffix: object, min_file_age: object
) -> None:
    """Refuse what cannot describe a watched export directory (the sensor's and the trigger's checks).

    :raises ValueError: an empty ``path`` or ``file_pattern``, a ``marker_suffix`` that is empty
        or holds a ``/``, a ``min_file_age`` that is not zero or more seconds.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError("path must name the remote directory to watch")
    if not isinstance(file_pattern, str) or not file_pattern:
        raise ValueError("file_pattern must not be empty (use '*' for every file)")
    if marker_suffix is not None and (
        not isinstance(marker_suffix, str) or not marker_suffix or "/" in marker_suffix
    ):
        raise ValueError(f"marker_suffix must be a file-name suffix such as '.done', not {marker_suffix!r}")
    if isinstance(min_file_age, bool) or not isinstance(min_file_age, int | float) or min_file_age < 0:
        raise ValueError(f"min_file_age must be zero or more seconds, not {min_file_age!r}")


class _InfoLog(Protocol):
    def info(self, msg: Any, /, *args: Any) -> object: ...


_LOGGED_REASONS = 20
"""How many not-ready files a look logs, at most."""


@dataclass
class ExportWatch:
    """Successive looks at one export directory, as the sensor and the trigger poll it.

    Each :meth:`look` applies :func:`ready_files` to a new listing with the previous look's
    listing as ``previous``, logs why files are not complete yet, and remembers the listing for
    the next look.

    :param directory: the watched directory (for logs).
    :param pattern: fnmatch pattern of export files.
    :param min_age: seconds since the last modification before a file counts as complete.
    :param marker_suffix: suffix of marker files, or ``None``.
    :param previous: name → ``(size, mtime)`` of the last listing; set it to ``None`` when the
        directory went missing, so the next listing is a first look again.
    """

    directory: str
    pattern: str
    min_age: float
    marker_suffix: str | None = None
    previous: dict[str, tuple[int, float]] | None = None

    def look(self, listing: Sequence[RemoteFile], *, now: float, log: _InfoLog) -> list[str]:
        """The names of the complete export files of ``listing``, oldest first (logged).

        :param listing: the directory's regular files now.
        :param now: the current time, POSIX seconds.
        :param log: where to say what is complete and why the other files are not.
        """
        complete, reasons = _assess(
            listing,
            pattern=self.pattern,
            now=now,
            min_age=self.min_age,
            marker_suffix=self.marker_suffix,
            previous=self.previous,
        )
        self.previous = listing_signatures(listing)
        for name, reason in list(reasons.items())[:_LOGGED_REASONS]:
            log.info("Not ready: %s: %s", name, reason)
        names = [file.name for file in complete]
        if names:
            log.info("%d complete export file(s) in %r: %s", len(names), self.directory, names)
        else:
            log.info(
                "No complete file matching %r in %r yet (%d waiting).",
                self.pattern,
                self.directory,
                len(reasons),
            )
        return names


def collision_free_name(name: str, taken: Callable[[str], bool], *, now: datetime) -> str:
    """``name``, or when it is taken, ``<stem>_<UTC timestamp><ext>`` (then ``…_2``, ``…_3`` …).

    ``invoices.csv`` becomes ``invoices_20260601T120000Z.csv``, then
    ``invoices_20260601T120000Z_2.csv``.

    :param name: the wanted file name.
    :param taken: tells whether a name is already used in the target directory.
    :param now: the time of the move (naive values are taken as UTC).
    """
    if not taken(name):
        return name
    stem, ext = posixpath.splitext(name)
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    stamped = f"{stem}_{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    candidate = f"{stamped}{ext}"
    counter = 2
    while taken(candidate):
        candidate = f"{stamped}_{counter}{ext}"
        counter += 1
    return candidate


def describe_sftp_error(error: BaseException, secrets_: Iterable[str | None] = ()) -> str:
    """``"<ErrorClass>: <message>"`` with the given secrets, any PEM block and other credentials
    replaced by ``***`` (see :func:`~ml_connector_provider.transport.redact_text`).

    :param error: the failure.
    :param secrets_: values that must never be shown (password, private key, passphrase).
    """
    message = redact_text(str(error).strip(), secrets_)
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def _unreachable(error: BaseException) -> bool:
    """Whether a connection failure says the server could not be reached (refused, timed out,
    not resolved, dropped, no SSH banner) rather than that it refused us."""
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError | socket.timeout | socket.gaierror):
        return True
    if isinstance(error, ConnectionError | EOFError | TimeoutError):
        return True
    text = str(error).lower()
    return isinstance(error, paramiko.SSHException) and (
        "banner" in text or "timed out" in text or "connection reset" in text or "eof" in text
    )


# -- errors ----------------------------------------------------------------------------------------


class StampliSftpError(Exception):
    """The SFTP server could not be used (no secrets in the message)."""


class SftpConnectionError(StampliSftpError):
    """Connecting or logging in to the SFTP server failed."""


class HostKeyVerificationError(SftpConnectionError):
    """The SFTP server's host key is unknown, or differs from the pinned one."""


class SftpAuthenticationError(SftpConnectionError):
    """The SFTP server refused the login (wrong login, password or key). Retrying cannot help."""


class SftpUnreachableError(SftpConnectionError):
    """The SFTP server could not be reached or dropped the connection: refused, timed out, no
    SSH banner, name not resolved. Usually transient: a later attempt (an Airflow task retry) may
    succeed."""

    transient = True


class _SftpPathError(StampliSftpError, OSError):
    """An :class:`OSError` of the hook about one remote path (the message names server and path).

    :param message: names the server, the operation and the path.
    :param path: the remote path concerned.
    """

    code = errno.EIO

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(self.code, message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_path_error, (type(self), self.message, self.path))


def _rebuild_path_error(cls: type[_SftpPathError], message: str, path: str) -> _SftpPathError:
    return cls(message, path=path)


class SftpPermissionError(_SftpPathError, PermissionError):
    """The SFTP account may not do this to a directory or file (list, read, create, rename, write)."""

    code = errno.EACCES


class SftpNotFoundError(_SftpPathError, FileNotFoundError):
    """A remote directory or file does not exist."""

    code = errno.ENOENT


class SftpWriteError(_SftpPathError):
    """The SFTP server failed a write it was allowed to make (a full disk or an exhausted quota
    is reported by SFTP version 3 servers only as a generic "Failure")."""


# -- the hook --------------------------------------------------------------------------------------


@dataclass
class DownloadedFile:
    """The content of one downloaded file, spooled in memory (or on disk when it is big).

    Close it (or use it as a context manager) to free the temporary file.

    :param path: the remote path it was read from.
    :param data: a binary file object positioned at 0.
    :param size: bytes read.
    :param sha256: hex SHA-256 of the bytes read.
    :param mtime: the remote modification time (POSIX seconds) when the download started.
    :param changed_during_download: the file's size or modification time changed while it was
        read, or fewer/more bytes came than its size said: it was probably still being written.
    """

    path: str
    data: IO[bytes] = field(repr=False)
    size: int
    sha256: str
    mtime: float
    changed_during_download: bool = False

    @property
    def name(self) -> str:
        """The file name."""
        return posixpath.basename(self.path)

    def close(self) -> None:
        """Free the spooled content."""
        self.data.close()

    def __enter__(self) -> DownloadedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class StampliHook(SFTPHook):
    """SFTP access to a Stampli export server, built on the official provider's :class:`SFTPHook`.

    Connection: the official ``sftp`` type. ``host``, ``port`` (default 22), ``login``, and either
    ``password`` or a key (extras ``key_file``, or ``private_key`` with ``private_key_passphrase``).
    The server's host key is verified against the ``host_key`` extra (``"ssh-ed25519 AAAA…"``) or
    the worker's ``~/.ssh/known_hosts``; only a ``no_host_key_check`` extra set to ``true`` turns
    the check off. An unknown or different key raises :class:`HostKeyVerificationError`.

    Each method opens one connection for all of its calls; inside an outer
    ``with hook.get_managed_conn():`` every method reuses that connection, so a whole run can use
    a single SSH session. Nothing is ever deleted on the server.

    :param sftp_conn_id: the ``sftp`` Airflow connection.
    :param kwargs: passed to :class:`SFTPHook` / ``SSHHook`` (``conn_retry_attempts``,
        ``conn_timeout``, ``banner_timeout`` …). ``no_host_key_check`` is refused: host-key
        checking follows the connection only.
    """

    default_conn_name = "sftp_default"
    conn_type = "sftp"
    hook_name = "Stampli (SFTP)"

    def __init__(self, sftp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        if "no_host_key_check" in kwargs:
            raise TypeError(
                "StampliHook takes host-key checking from the connection only: pin the key in its "
                "host_key extra (or, for a throw-away server, set its no_host_key_check extra)"
            )
        if "ssh_conn_id" in kwargs:
            raise TypeError("StampliHook names its connection with sftp_conn_id, not ssh_conn_id")
        super().__init__(ssh_conn_id=sftp_conn_id, **kwargs)
        self.sftp_conn_id = sftp_conn_id

    # -- connection ----------------------------------------------------------------------------

    @property
    def _secrets(self) -> tuple[str | None, ...]:
        return (self.password,)

    def _server(self) -> str:
        return f"{self.remote_host}:{self.port}"

    def _missing(self, what: str, path: str) -> SftpNotFoundError:
        return SftpNotFoundError(f"{what} {path!r} does not exist on SFTP server {self._server()}", path=path)

    @contextmanager
    def _operation(self, action: str, path: str, *, size: int | None = None) -> Generator[None, None, None]:
        """Turn the failures of one SFTP operation into the hook's typed errors, naming the server,
        the operation and the path (never the password).

        Permission denied becomes :class:`SftpPermissionError`; a generic "Failure" while writing
        (how SFTP version 3 servers report a full disk or quota) :class:`SftpWriteError`; a
        connection lost mid-operation :class:`SftpUnreachableError`. A missing path and the
        hook's own errors pass unchanged.

        :param action: what was being done, e.g. ``"list the directory"``.
        :param path: the remote path concerned.
        :param size: bytes being written, when writing.
        """
        where = f"SFTP server {self._server()} (connection {self.sftp_conn_id!r})"
        try:
            yield
        except (StampliSftpError, FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise
        except PermissionError:
            raise SftpPermissionError(
                f"{where} refused to {action} {path!r}: permission denied for the SFTP account "
                f"{self.username!r}; ask the server's administrator for the rights this needs",
                path=path,
            ) from None
        except (TimeoutError, paramiko.SSHException, EOFError, ConnectionError) as error:
            raise SftpUnreachableError(
                f"Lost the connection to {where} while trying to {action} {path!r} "
                f"({describe_sftp_error(error, self._secrets)}); a later attempt may succeed"
            ) from None
        except OSError as error:
            if size is None:
                raise
            raise SftpWriteError(
                f"{where} failed to {action} {path!r} ({size} bytes): "
                f"{describe_sftp_error(error, self._secrets)}. An SFTP server answers a full disk "
                "or an exhausted quota this way; check the free space of the target directory",
                path=path,
            ) from None

    def _connect_error(self, error: Exception) -> SftpConnectionError:
        where = f"SFTP server {self._server()} (connection {self.sftp_conn_id!r})"
        if isinstance(error, paramiko.BadHostKeyException):
            got = error.key
            return HostKeyVerificationError(
                f"The host key of {where} does not match the expected one (the connection's host_key "
                f"extra, or the worker's known_hosts): the server presented {got.get_name()} "
                f"{got.fingerprint}. This can mean the connection is intercepted. "
                "If the server's key really changed, confirm the new key with its administrator and "
                "update the connection's host_key extra."
            )
        if isinstance(error, paramiko.SSHException) and "not found in known_hosts" in str(error):
            return HostKeyVerificationError(
                f"{where} is not trusted: its host key is neither pinned in the connection's host_key "
                f"extra nor in the worker's known_hosts. To trust it, {HOST_KEY_HINT}."
            )
        if isinstance(error, paramiko.AuthenticationException):
            return SftpAuthenticationError(
                f"Logging in to {where} as {self.username!r} failed "
                f"({describe_sftp_error(error, self._secrets)}); check the login and the password, "
                "key_file or private_key of the connection."
            )
        if _unreachable(error):
            return SftpUnreachableError(
                f"Cannot reach {where}: {describe_sftp_error(error, self._secrets)}. The server may be "
                "down, busy or behind a firewall; a later attempt may succeed (check host and port "
                "if it persists)."
            )
        return SftpConnectionError(f"Cannot connect to {where}: {describe_sftp_error(error, self._secrets)}")

    @contextmanager
    def get_managed_conn(self) -> Generator[SFTPClient, None, None]:
        """One SFTP session shared by nested uses; closed when the outermost use ends.

        :raises HostKeyVerificationError: the server's host key is unknown or wrong.
        :raises SftpConnectionError: the server cannot be reached or refuses the login.
        """
        with ExitStack() as stack:
            try:
                sftp = stack.enter_context(super().get_managed_conn())
            except (paramiko.SSHException, OSError, EOFError) as error:
                raise self._connect_error(error) from None
            yield sftp

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _as_remote_file(path: str, attrs: SFTPAttributes) -> RemoteFile:
        return RemoteFile(
            name=posixpath.basename(path),
            path=path,
            size=int(attrs.st_size or 0),
            mtime=float(attrs.st_mtime or 0),
        )

    def _stat_file(self, sftp: SFTPClient, path: str) -> SFTPAttributes | None:
        """The attributes of the regular file at ``path``, or ``None`` when nothing is there.

        :raises IsADirectoryError: ``path`` is a directory (or another non-regular file).
        """
        try:
            attrs = sftp.stat(path)
        except FileNotFoundError:
            return None
        if attrs.st_mode is not None and not stat_module.S_ISREG(attrs.st_mode):
            raise IsADirectoryError(f"{path!r} on SFTP server {self._server()} is not a regular file")
        return attrs

    def list_files(self, directory: str) -> list[RemoteFile]:
        """The regular files of a remote directory (not sub-directories, links or others), by name.

        :param directory: absolute remote path (or relative to the login directory).
        :raises SftpNotFoundError: the directory does not exist (a ``FileNotFoundError``).
        :raises SftpPermissionError: the account may not list it (a ``PermissionError``).
        :raises SftpConnectionError: the server cannot be reached or refuses the login.
        """
        with self.get_managed_conn() as sftp, self._operation("list the directory", directory):
            try:
                entries = sftp.listdir_attr(directory)
            except FileNotFoundError:
                raise self._missing("directory", directory) from None
        files = [
            self._as_remote_file(posixpath.join(directory, attrs.filename), attrs)
            for attrs in entries
            if attrs.filename not in (".", "..")
            and attrs.st_mode is not None
            and stat_module.S_ISREG(attrs.st_mode)
        ]
        links = sorted(
            attrs.filename
            for attrs in entries
            if attrs.st_mode is not None and stat_module.S_ISLNK(attrs.st_mode)
        )
        if links:
            # Not followed (the target may be another listed file, or outside the directory, and
            # archiving would move the link, not the file), but never skipped without a word.
            self.log.warning(
                "SFTP server %s: %s in %s %s a symbolic link and is not read; put the export file "
                "itself in the directory",
                self._server(),
                ", ".join(links),
                directory,
                "is" if len(links) == 1 else "are",
            )
        return sorted(files, key=lambda f: f.name)

    def stat(self, path: str) -> RemoteFile | None:
        """The file at ``path``, or ``None`` when nothing is there.

        :raises IsADirectoryError: ``path`` is a directory (or another non-regular file).
        """
        with self.get_managed_conn() as sftp, self._operation("read the attributes of", path):
            attrs = self._stat_file(sftp, path)
        return None if attrs is None else self._as_remote_file(path, attrs)

    def download(self, path: str, *, spool_limit: int = DEFAULT_SPOOL_LIMIT) -> DownloadedFile:
        """Read a remote file into a spooled temporary file, with its size and SHA-256.

        Files up to ``spool_limit`` bytes stay in memory, bigger ones go to a temporary file on
        disk. :attr:`DownloadedFile.changed_during_download` tells whether the file changed (or
        went away) while it was read; when it is false, :attr:`DownloadedFile.size` and
        :attr:`DownloadedFile.mtime` are also the file's size and modification time after the read.

        :param path: the remote file.
        :param spool_limit: bytes kept in memory before spilling to disk.
        :raises FileNotFoundError: there is no such file.
        :raises IsADirectoryError: ``path`` is a directory (or another non-regular file).
        """
        with self.get_managed_conn() as sftp:
            before = self._stat_file(sftp, path)
            if before is None:
                raise self._missing("file", path)
            spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=spool_limit)  # noqa: SIM115
            try:
                digest = hashlib.sha256()
                size = 0
                with sftp.open(path, "rb") as remote:
                    remote.prefetch(before.st_size)
                    while chunk := remote.read(_CHUNK):
                        digest.update(chunk)
                        spool.write(chunk)
                        size += len(chunk)
                after = self._stat_file(sftp, path)
            except BaseException:
                spool.close()
                raise
        spool.seek(0)
        changed = (
            after is None
            or size != before.st_size
            or after.st_size != before.st_size
            or after.st_mtime != before.st_mtime
        )
        return DownloadedFile(
            path=path,
            data=spool,
            size=size,
            sha256=digest.hexdigest(),
            mtime=float(before.st_mtime or 0),
            changed_during_download=changed,
        )

    # -- writing -------------------------------------------------------------------------------

    @staticmethod
    def _exists(sftp: SFTPClient, path: str) -> bool:
        try:
            sftp.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def _ensure_directory(self, sftp: SFTPClient, path: str) -> None:
        path = posixpath.normpath(path)
        if path in ("", ".", "/", "//"):
            return
        try:
            attrs = sftp.stat(path)
        except FileNotFoundError:
            pass
        else:
            if attrs.st_mode is not None and not stat_module.S_ISDIR(attrs.st_mode):
                raise NotADirectoryError(
                    f"{path!r} exists on SFTP server {self._server()} and is not a directory"
                )
            return
        parent = posixpath.dirname(path)
        if parent and parent != path:
            self._ensure_directory(sftp, parent)
        try:
            sftp.mkdir(path)
        except OSError:
            # Created meanwhile by someone else? Then all is well.
            try:
                attrs = sftp.stat(path)
            except OSError:
                attrs = None
            if attrs is None or attrs.st_mode is None or not stat_module.S_ISDIR(attrs.st_mode):
                raise

    def ensure_directory(self, path: str) -> None:
        """Create a remote directory and its missing parents (nothing happens if it exists).

        :raises NotADirectoryError: the path, or one of its parents, is a file.
        """
        with self.get_managed_conn() as sftp, self._operation("create the directory", path):
            self._ensure_directory(sftp, path)

    def move(self, path: str, directory: str, *, name: str | None = None) -> str:
        """Move a remote file into ``directory`` (created if missing) without overwriting anything.

        The move is a ``posix_rename`` (atomic on the server). When the target name is taken, a
        UTC timestamp goes before the extension (see :func:`collision_free_name`). The name is
        checked just before the rename; the directories this is meant for (archive, error) are
        written by this provider only, one run at a time.

        :param path: the file to move.
        :param directory: the target directory.
        :param name: the target file name (default: the current one).
        :return: the new remote path.
        :raises FileNotFoundError: there is no file at ``path``.
        """
        target_name = name or posixpath.basename(path)
        if not target_name or "/" in target_name:
            raise ValueError(f"{target_name!r} is not a file name")
        with self.get_managed_conn() as sftp, self._operation(f"move into {directory!r} the file", path):
            if not self._exists(sftp, path):
                raise self._missing("file", path)
            self._ensure_directory(sftp, directory)
            final_name = collision_free_name(
                target_name,
                lambda candidate: self._exists(sftp, posixpath.join(directory, candidate)),
                now=datetime.now(UTC),
            )
            target = posixpath.join(directory, final_name)
            sftp.posix_rename(path, target)
        self.log.info("Moved %s to %s on %s", path, target, self._server())
        return target

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a remote file atomically: readers see the old file or the whole new one.

        The bytes go to ``<dir>/.<name>.part-<random>`` first (a dot-name, which export readers
        skip), and a ``posix_rename`` then puts that file in place of ``path``. Missing
        directories are created. When the upload fails, the partial file is removed.

        :param path: the remote file to create or replace.
        :param data: its content.
        :raises SftpPermissionError: the account may not write there.
        :raises SftpWriteError: the server failed the write (a full disk or quota, typically).
        """
        directory, name = posixpath.split(path)
        if not name:
            raise ValueError(f"{path!r} names no file")
        with self.get_managed_conn() as sftp, self._operation("write", path, size=len(data)):
            if directory:
                self._ensure_directory(sftp, directory)
            partial = posixpath.join(directory, f".{name}.part-{secrets.token_hex(6)}")
            try:
                sftp.putfo(io.BytesIO(data), partial, file_size=len(data), confirm=True)
                sftp.posix_rename(partial, path)
            except BaseException:
                with suppress(OSError, paramiko.SSHException, EOFError):
                    sftp.remove(partial)
                raise

    def write_text(self, path: str, text: str) -> None:
        """Write a remote text file (UTF-8) atomically, as :meth:`write_bytes` does."""
        self.write_bytes(path, text.encode("utf-8"))


# -- read-only probes (``ml-connector check``) -------------------------------------------------------


@dataclass(frozen=True)
class RemoteDirectory:
    """What the SFTP server tells about one directory, found without writing (see :func:`probe_directory`).

    :param path: the remote path.
    :param exists: something is at the path.
    :param is_dir: it is a directory.
    :param mode: its permission bits (``0o755``), when the server sends them.
    :param uid: its owner's numeric id, when the server sends it.
    :param gid: its group's numeric id, when the server sends it.
    :param files: its regular files (``None`` when it could not be listed).
    :param error: why it could not be listed (a typed error of this module), else ``None``.
    """

    path: str
    exists: bool
    is_dir: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    files: list[RemoteFile] | None = None
    error: StampliSftpError | None = None


def probe_directory(hook: StampliHook, path: str, *, list_files: bool = True) -> RemoteDirectory:
    """Stat ``path`` and (with ``list_files``) list it, on the hook's connection; reads only.

    :raises SftpConnectionError: the server cannot be reached, is not trusted or refuses the login.
    """
    with hook.get_managed_conn() as sftp:
        try:
            with hook._operation("read the attributes of", path):
                attrs = sftp.stat(path)
        except FileNotFoundError:
            return RemoteDirectory(path, exists=False)
        except SftpPermissionError as error:
            return RemoteDirectory(path, exists=True, error=error)
        is_dir = attrs.st_mode is not None and stat_module.S_ISDIR(attrs.st_mode)
        found = RemoteDirectory(
            path,
            exists=True,
            is_dir=is_dir,
            mode=None if attrs.st_mode is None else stat_module.S_IMODE(attrs.st_mode),
            uid=attrs.st_uid,
            gid=attrs.st_gid,
        )
        if not (list_files and is_dir):
            return found
        try:
            files = hook.list_files(path)
        except (SftpPermissionError, SftpNotFoundError) as error:
            return RemoteDirectory(**{**found.__dict__, "error": error})
        return RemoteDirectory(**{**found.__dict__, "files": files})


def login_directory_owner(hook: StampliHook) -> int | None:
    """The numeric owner of the directory an SFTP session starts in (usually the account's own id,
    which the server does not otherwise tell), or ``None`` when the server does not say."""
    with hook.get_managed_conn() as sftp, hook._operation("read the attributes of", "."):
        home = sftp.normalize(".")
        return sftp.stat(home).st_uid
