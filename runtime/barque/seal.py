"""Sealing a file barque writes for itself and later believes: the parse cache's entries and
run certificates.

A sealed file is one line naming its body's digest, then the body. Without a store key the
digest is the body's sha256, which catches a torn or corrupt file; with ``BARQUE_STORE_KEY``
set it is an HMAC-SHA256 under the key, so whoever can write the folder but lacks the key
cannot make barque believe a file it did not write (another code's hashes, another outcome).
This module imports nothing of barque's, so the slim entry (``barque_cli.fastrun``) can use it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
TYPE_CHECKING = False  # typing's own constant, without importing typing (the slim entry, barque_cli.fastrun, loads this)
if TYPE_CHECKING:
    from typing import Mapping

KEY_ENV = "BARQUE_STORE_KEY"


def configured_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The store key from ``BARQUE_STORE_KEY``, or ``None`` when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(KEY_ENV)
    return value.encode("utf-8") if value else None


def seal(body: bytes, key: bytes | None) -> bytes:
    """The first line of a sealed file holding ``body``."""
    if key is None:
        return b"sha256:" + hashlib.sha256(body).hexdigest().encode()
    return b"hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def sealed(body: bytes, key: bytes | None) -> bytes:
    """The whole sealed file for ``body``."""
    return seal(body, key) + b"\n" + body


def unseal(data: bytes, key: bytes | None) -> bytes | None:
    """The body of a sealed file whose first line seals it as this process would; else ``None``."""
    first, sep, body = data.partition(b"\n")
    if not sep:
        return None
    return body if hmac.compare_digest(first, seal(body, key)) else None
