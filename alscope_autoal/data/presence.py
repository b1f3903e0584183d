"""Whether a registered dataset's files are under a data dir, judged from its layout alone (nothing is read)."""

from __future__ import annotations

import re
from pathlib import Path

from .base import DatasetInfo

BUNDLED = "bundled"  # shipped with a package (digits, with scikit-learn): always there
PRESENT = "present"
MISSING = "missing"
BRACES = re.compile(r"\{([^{}]*)\}")


def availability(info: DatasetInfo, root: Path) -> str:
    """BUNDLED, PRESENT (every path of the official layout is under `root`) or MISSING."""
    if info.layout.startswith("nothing"):
        return BUNDLED
    if Path(info.layout).is_absolute():  # a user's dataset names its own file or folder
        return PRESENT if Path(info.layout).exists() else MISSING
    return PRESENT if all(found(root, pattern) for pattern in expand_braces(info.layout)) else MISSING


def expand_braces(pattern: str) -> list[str]:
    """'text/{train,test}/{neg,pos}/' -> the four paths it names (glob does not expand braces)."""
    match = BRACES.search(pattern)
    if match is None:
        return [pattern]
    return [path for option in match.group(1).split(",")
            for path in expand_braces(pattern[:match.start()] + option + pattern[match.end():])]


def found(root: Path, pattern: str) -> bool:
    """A folder (`pattern` ends with '/') or a file matching the glob `pattern` under `root`."""
    if pattern.endswith("/"):
        return any(path.is_dir() for path in root.glob(pattern.rstrip("/")))
    return any(path.is_file() for path in root.glob(pattern))
