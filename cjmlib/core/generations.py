"""The processed data as generations: all canonical tables of one collection, or none.

``collect`` never writes into ``data/processed`` itself. It writes a whole new generation
aside, ``data/.processed.new-<id>/``, and swaps it in with one rename (on Linux an atomic
exchange of the two folders, ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames that
:func:`recover` completes after a crash). A reader, a crash or a ``kill -9`` therefore finds
the previous generation or the new one, never events of one dataset next to customers of
another. Files that are not collection outputs (a README) are carried over to the new
generation.

Around the folder, in its parent::

    processed/                the current generation
    .processed.new-<id>/      a generation being written; debris once its writer is gone
    .processed.old-<id>/      the previous generation for the instant of a two-rename swap
    .processed.lock           the lock of the folder (:mod:`cjmlib.core.locks`)

:func:`recover`, run under the lock at the start of every ``cjm run`` and ``collect``,
completes an interrupted swap and removes the debris (unfinished generations, ``.tmp`` files
of interrupted atomic writes, ``.collect-*`` work folders of earlier versions).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import uuid
from collections.abc import Collection
from pathlib import Path

#: The file a finished generation holds: collect writes it last.
COMPLETE_MARKER = "manifest.json"


def new_generation(processed: Path) -> Path:
    """Create and return an empty folder for the next generation of ``processed``."""
    folder = processed.parent / f".{processed.name}.new-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def commit(processed: Path, generation: Path, *, owned: Collection[str]) -> None:
    """Make ``generation`` (from :func:`new_generation`, complete) the current ``processed``
    in one step. Entries of the old generation whose names are not in ``owned`` (the files
    collect writes) are carried over first; the old generation is then removed."""
    if not (generation / COMPLETE_MARKER).exists():
        raise ValueError(f"{generation}: not a finished generation (no {COMPLETE_MARKER})")
    if not processed.exists():
        os.rename(generation, processed)
        return
    _carry_over(processed, generation, owned)
    if _exchange(generation, processed):
        shutil.rmtree(generation, ignore_errors=True)  # now holds the old generation
        return
    old = processed.parent / f".{processed.name}.old-{generation.name.rsplit('-', 1)[-1]}"
    os.rename(processed, old)  # a crash here: recover() promotes the finished generation
    os.rename(generation, processed)
    shutil.rmtree(old, ignore_errors=True)


def recover(processed: Path) -> list[str]:
    """Complete an interrupted swap and remove debris around and inside ``processed``;
    return the paths removed or restored, in words. Call it holding the lock."""
    done: list[str] = []
    parent, name = processed.parent, processed.name
    if not parent.is_dir():
        return done
    finished = sorted((p for p in parent.glob(f".{name}.new-*") if (p / COMPLETE_MARKER).exists()),
                      key=lambda p: p.stat().st_mtime)
    previous = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not processed.exists() and (finished or previous):
        chosen = finished[-1] if finished else previous[-1]
        os.rename(chosen, processed)
        done.append(f"restored {processed} from {chosen.name}")
    for debris in [*parent.glob(f".{name}.new-*"), *parent.glob(f".{name}.old-*")]:
        shutil.rmtree(debris, ignore_errors=True)
        done.append(f"removed {debris}")
    if processed.is_dir():
        inside = [*processed.glob(".collect-*"), *processed.glob("*.tmp"),
                  *processed.glob("quarantine/*.tmp")]
        for debris in inside:
            if debris.is_dir():
                shutil.rmtree(debris, ignore_errors=True)
            else:
                debris.unlink(missing_ok=True)
            done.append(f"removed {debris}")
    return done


def _carry_over(processed: Path, generation: Path, owned: Collection[str]) -> None:
    """Hard-link (else copy) the entries of ``processed`` that are not collection outputs
    into ``generation``: a README or notes kept next to the tables survive the swap."""
    for entry in processed.iterdir():
        if entry.name in owned or entry.name.startswith(".") or entry.name.endswith(".tmp"):
            continue
        target = generation / entry.name
        if target.exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, target, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(entry, target)


def _link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False when
    the system cannot, so that the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False  # e.g. EINVAL on a file system without exchange: two renames instead
