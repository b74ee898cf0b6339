"""Per-request work folders: a fresh one for each request; expired ones pruned race-free, a few at a time."""
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

PRUNE_AT_MOST = 32  # expired folders removed per request: thousands clear over a few requests, none waits on all


def fresh(root: Path, keep_s: float) -> Path:
    """A new empty folder under `root`; on the way, up to PRUNE_AT_MOST entries older than keep_s are removed.

    Each expired entry is first claimed by renaming it to a unique name, which is atomic: of several requests
    pruning the same folder at once exactly one wins, and the others skip it instead of failing.
    """
    root.mkdir(parents=True, exist_ok=True)
    cutoff, removed = time.time() - keep_s, 0
    with os.scandir(root) as entries:
        for entry in entries:
            if removed >= PRUNE_AT_MOST:
                break
            try:
                if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                    continue
                claimed = root / f".pruning-{uuid.uuid4().hex}"
                os.rename(entry.path, claimed)
            except FileNotFoundError:  # another request claimed it first
                continue
            if claimed.is_dir() and not claimed.is_symlink():
                shutil.rmtree(claimed, ignore_errors=True)
            else:
                claimed.unlink(missing_ok=True)
            removed += 1
    return Path(tempfile.mkdtemp(dir=root))


def find(root: Path, name: str) -> Path | None:
    """The folder `name` that fresh() made under `root`, if it is still there; None for anything else."""
    if not isinstance(name, str) or not re.fullmatch(r"tmp[a-z0-9_]{1,32}", name):
        return None  # mkdtemp's names only: no separator or dot can reach outside root
    folder = root / name
    return folder if folder.is_dir() and not folder.is_symlink() else None
