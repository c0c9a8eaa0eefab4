"""Writing a file the user asked for (a diagram, generated source): all or nothing.

The data goes to a fresh temporary file beside the target, created with an unpredictable name and
``O_EXCL`` (never through a symbolic link someone planted), then replaces the target in one rename.
A failure at any point leaves the target as it was and no temporary file behind, and is reported as
a :class:`~resdsl.errors.UsageError` that says what to do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from resdsl.errors import UsageError


def check_writable(path: Path) -> None:
    """Fail early, before any work, when ``path`` clearly cannot be written."""
    if not str(path) or str(path) == ".":
        raise UsageError("-o needs a file name", hint="for example -o net.svg")
    try:
        _check_folder(path)
    except OSError as error:  # a name too long, a folder that may not be read
        raise UsageError(f"-o {path}: cannot write there ({error.strerror or error})") from None


def _check_folder(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"-o {path}: that is a folder",
                         hint=f"name a file inside it: -o {path / ('net' + path.suffix)}")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"-o {path}: no folder {parent}", hint="create the folder first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"-o {path}: the folder {parent} is not writable", hint="write somewhere you may")


def write_file(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically; the new file gets the permissions a plain
    ``open(path, "w")`` would give it."""
    path = Path(path)
    check_writable(path)
    try:  # a short name: the target's own may already be as long as the file system allows
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".resdsl-", suffix=".partial")
    except OSError as error:
        raise UsageError(f"-o {path}: cannot write there ({error.strerror})") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise UsageError(f"-o {path}: cannot write there ({error.strerror or error})") from None
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
