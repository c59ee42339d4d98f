"""Phone keys in a worker process: ``python -m cjmlib.collection.phone_worker``.

Normalising phone numbers is pure Python (``phonenumbers``) while the engine waits, so staging
(:func:`cjmlib.collection.staging.phone_keys`) shares a long list of distinct values with
worker processes. A worker reads one JSON object from standard input (the identifier type's
options, the salt and the values) and writes the JSON list of keys, in the values' order. It
is started as a module rather than through ``multiprocessing`` so that the caller's main
script is never run again (spawn) and no threaded process is forked.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cjmlib.collection.identity import IdentifierType, hash_identifier


def keys_of(it: IdentifierType, values: list[str], salt: str) -> list[str | None]:
    """Identifier keys (``phone:<hash>``, or ``phone:<E.164>`` when not PII) of raw phone
    values; ``None`` for a value that is no number or is a placeholder.

    >>> it = IdentifierType("phone", "phone", pii=False, placeholders=("00000000000",))
    >>> keys_of(it, ["07700 900123", "00000000000", "call me"], "s")
    ['phone:+447700900123', None, None]
    """
    keys: list[str | None] = []
    for value in values:
        norm = it.clean(value)
        if norm is None:
            keys.append(None)
        elif it.pii:
            keys.append(f"{it.name}:{hash_identifier(it.name, norm, salt)}")
        else:
            keys.append(f"{it.name}:{norm}")
    return keys


def request(it: IdentifierType, values: list[str], salt: str) -> bytes:
    """What a worker reads: the type's options, the salt and the values."""
    return json.dumps({"name": it.name, "normalise": it.normalise, "pii": it.pii,
                       "placeholders": list(it.placeholders),
                       "default_region": it.default_region, "salt": salt,
                       "values": values}).encode()


def _main() -> None:
    job: dict[str, Any] = json.loads(sys.stdin.buffer.read())
    it = IdentifierType(job["name"], job["normalise"], job["pii"], tuple(job["placeholders"]),
                        job["default_region"])
    sys.stdout.write(json.dumps(keys_of(it, job["values"], job["salt"])))


if __name__ == "__main__":
    _main()
