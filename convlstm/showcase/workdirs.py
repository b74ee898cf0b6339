"""Per-request work folders: a fresh, unguessable one for each request; expired ones pruned race-free, a few at a time."""
import os
import re
import secrets
import shutil
import time
import uuid
from pathlib import Path

PREFIX = "r"  # result folders are PREFIX + 32 hex digits
PRUNE_AT_MOST = 32  # expired folders removed per request: thousands clear over a few requests, none waits on all


def discard(entry: Path) -> bool:
    """Remove a file or folder, race-free: it is first claimed by renaming it to a unique name, which is atomic, so
    of several requests removing the same entry at once exactly one wins; False if another got there first."""
    claimed = entry.parent / f".pruning-{uuid.uuid4().hex}"
    try:
        os.rename(entry, claimed)
    except FileNotFoundError:
        return False
    if claimed.is_dir() and not claimed.is_symlink():
        shutil.rmtree(claimed, ignore_errors=True)
    else:
        claimed.unlink(missing_ok=True)
    return True


def fresh(root: Path, keep_s: float) -> Path:
    """A new empty folder under `root`, named unguessably; on the way, up to PRUNE_AT_MOST entries older than keep_s
    are removed (see discard)."""
    root.mkdir(parents=True, exist_ok=True)
    cutoff, removed = time.time() - keep_s, 0
    with os.scandir(root) as entries:
        for entry in entries:
            if removed >= PRUNE_AT_MOST:
                break
            try:
                if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                    continue
            except FileNotFoundError:  # another request removed it first
                continue
            removed += discard(Path(entry.path))
    folder = root / f"{PREFIX}{secrets.token_hex(16)}"  # 128 random bits: a result id cannot be guessed
    folder.mkdir(mode=0o700)
    return folder


def find(root: Path, name: str) -> Path | None:
    """The folder `name` that fresh() made under `root`, if it is still there; None for anything else."""
    if not isinstance(name, str) or not re.fullmatch(PREFIX + "[0-9a-f]{32}", name):
        return None  # fresh()'s names only: no separator or dot can reach outside root
    folder = root / name
    return folder if folder.is_dir() and not folder.is_symlink() else None
