"""Replacing a directory atomically: build it beside the target, then rename it into place.

A reader sees the old directory or the new one, never half of one, and a failure leaves the old
one as it was. No TensorFlow here, so the CLI can check its output path before training.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.inference.artifact import METADATA_FILE


class ExportError(Exception):
    """The target cannot be written or replaced safely."""


def check_replaceable(target: Path) -> None:
    """Refuse a target that is a file, or a non-empty directory that is not a model directory."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ExportError(f"{target}: exists and is not a directory")
    if any(target.iterdir()) and not (target / METADATA_FILE).is_file():
        raise ExportError(
            f"{target}: exists and is not a model directory (no {METADATA_FILE}); "
            "refusing to replace it"
        )


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory; when the block succeeds it replaces `target`.

    If the block raises, the staging directory is removed and `target` is untouched.
    """
    target = Path(os.path.abspath(target))  # so that "." or "models/.." have a name and parent
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a model directory is not a secret
        yield staging
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, retired)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)
