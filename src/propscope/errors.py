"""Errors raised by propscope. Every message names the input and what to do about it.

PropscopeError
├── InputError          the input a user gave is unusable
│   ├── EmptyText
│   ├── NotText           binary data, or not decodable with the given encoding
│   ├── MalformedRow      a label file row, with its line number
│   ├── SpanOutOfRange
│   ├── NoArticles        a folder without article<ID>.txt files
│   ├── UnknownTechnique
│   ├── FetchError        a URL refused, timed out, failed, or not a page
│   └── UnsupportedLanguage  a language no model can read
├── ModelError          a missing or corrupt model folder
├── MissingExtra        an optional dependency is not installed
└── StorageError        an output or the library cannot be written: full disk, read-only, locked
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Literal


class PropscopeError(Exception):
    """Base class of every error propscope raises on purpose."""


class InputError(PropscopeError):
    """An input (file, text, label row, span) cannot be used as given."""


class EmptyText(InputError):
    """The text is empty or only whitespace."""


class NotText(InputError):
    """The bytes are binary, or do not decode with the requested encoding."""


class MalformedRow(InputError):
    """A row of a PTC label file does not have the expected shape."""


class SpanOutOfRange(InputError):
    """A span does not lie inside its text."""


class NoArticles(InputError):
    """A folder has no article<ID>.txt files."""


class UnknownTechnique(InputError):
    """A technique id or label is not one of the 14."""


class FetchError(InputError):
    """A URL could not be fetched, or did not give an HTML page."""


class UnsupportedLanguage(InputError):
    """The text is in a language that no model of propscope can read."""


class ModelError(PropscopeError):
    """The model folder is missing, incomplete or does not match its checksum."""


class ClusterError(PropscopeError):
    """A part of a corpus run was lost on a Ray cluster more often than it is retried."""


class MissingExtra(PropscopeError):
    """An optional dependency is needed for this feature."""


TRAIN_EXTRA_MISSING = "training needs torch and transformers: pip install 'propscope[train]'"


StorageProblem = Literal["full", "read-only", "locked", "failed"]
_PROBLEMS: dict[StorageProblem, str] = {
    "full": "the disk is full; free some space",
    "read-only": "it cannot be written (read-only); give a writable place",
    "locked": "the library is locked by another process; wait for it",
    "failed": "it could not be written; check that the disk has room and works",
}


class StorageError(PropscopeError):
    """An output file or the library could not be written. What was written before is kept."""

    def __init__(self, path: Path | str, problem: StorageProblem, detail: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {_PROBLEMS[problem]} ({detail}), then run it again: "
                         "what was already written is kept, and the rerun resumes")


def storage_error(path: Path | str, exc: OSError | sqlite3.Error) -> StorageError:
    """The ``StorageError`` for a failed write of ``path``."""
    if isinstance(exc, OSError):
        codes: dict[int, StorageProblem] = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EFBIG: "full",
                                            errno.EROFS: "read-only", errno.EACCES: "read-only", errno.EPERM: "read-only"}
        return StorageError(path, codes.get(exc.errno or 0, "failed"), exc.strerror or str(exc))
    message = str(exc)
    problem: StorageProblem = ("full" if "full" in message else "read-only" if "readonly" in message
                               else "locked" if "locked" in message or "busy" in message else "failed")
    return StorageError(path, problem, message)
