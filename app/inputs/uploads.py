"""A file as a client uploaded it: its name and bytes, before any reader has looked at it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes
