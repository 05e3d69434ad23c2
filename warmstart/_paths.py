"""Folders warmstart writes to: the cache of pretrained sources, feature caches and the knowledge base.

No module imports :mod:`warmstart.source` just for a path: they import this one.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Folder for pretrained sources, feature caches and the default knowledge base.

    ``$WARMSTART_CACHE`` when set, else ``~/.cache/warmstart``. The folder is not created here.
    """
    return Path(os.environ.get("WARMSTART_CACHE", Path.home() / ".cache" / "warmstart"))
