"""The PNGs behind ``response_format=url``."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["FILES_PATH", "ImageStore"]


log = logging.getLogger("modelport.http")


FILES_PATH = "/v1/images/files"


URL_LIFETIME = 3600.0


class ImageStore:
    """PNGs behind ``response_format=url``: one file each under ``root``, deleted once
    older than ``lifetime`` seconds (swept at most once a minute, when images are saved)."""

    NAME = re.compile(r"^[0-9a-f]{32}\.png$")

    def __init__(self, root: Path, lifetime: float = URL_LIFETIME, sweep_every: float = 60.0):
        self.root = root
        self.lifetime = lifetime
        self.sweep_every = sweep_every
        self._last_sweep = 0.0

    def save(self, png: bytes) -> str:
        """Store one PNG (blocking) and return its file name."""
        self.root.mkdir(parents=True, exist_ok=True)
        if time.monotonic() - self._last_sweep >= self.sweep_every:
            self.sweep()
        name = f"{uuid.uuid4().hex}.png"
        fd, partial = tempfile.mkstemp(dir=self.root, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(png)
            os.replace(partial, self.root / name)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return name

    def path(self, name: str) -> Path | None:
        """The file behind ``name`` while it is live; None if unknown or expired."""
        if not self.NAME.match(name):
            return None
        path = self.root / name
        try:
            live = time.time() - path.stat().st_mtime < self.lifetime
        except FileNotFoundError:
            return None
        return path if live else None

    def sweep(self) -> int:
        """Delete expired images (and partial writes of the same age); return how many."""
        self._last_sweep = time.monotonic()
        cutoff = time.time() - self.lifetime
        removed = 0
        for path in self.root.glob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
