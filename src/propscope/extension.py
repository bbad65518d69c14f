"""The browser extension that highlights articles in place: where its files are, its id, and
writing a copy to load unpacked.

The extension is plain JavaScript with no build step (extension/ in a source checkout,
propscope/extension_files in the wheel). Its manifest carries a public ``key``, so Chromium gives every
unpacked copy the same id, and the server can allow that one origin by default.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from propscope.errors import InputError

EXTENSION_ID = "ndpjfjoafokegbknloncdhhjeejmbche"
EXTENSION_ORIGIN = f"chrome-extension://{EXTENSION_ID}"
_PACKAGE_DIR = Path(__file__).resolve().parent


def extension_dir() -> Path:
    """The extension's files: inside the wheel, or in a source checkout."""
    for candidate in (_PACKAGE_DIR / "extension_files", _PACKAGE_DIR.parents[1] / "extension"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise InputError(f"the extension's files are missing from {_PACKAGE_DIR / 'extension_files'}; reinstall propscope")


def write_extension(out: Path) -> Path:
    """Copy the extension into ``out``: a new or empty folder, or an earlier copy, which is
    replaced (Chromium reloads it from the same path); returns ``out``."""
    source = extension_dir()
    if out.is_dir() and any(out.iterdir()):
        if _manifest_key(out) != _manifest_key(source):
            raise InputError(f"{out}: not empty and not an earlier copy of the extension; choose a new or empty folder")
        shutil.rmtree(out)
    elif out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; choose a folder")
    shutil.copytree(source, out, dirs_exist_ok=True)
    return out


def _manifest_key(folder: Path) -> str | None:
    try:
        key = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return None
    return key if isinstance(key, str) else None
