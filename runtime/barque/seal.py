"""Sealing a file barque writes for itself and later believes: the parse cache's entries and
run certificates.

A sealed file is one line naming its body's checksum, then the body. Without a store key the
checksum is the body's CRC-32, which catches a torn or corrupt file (every single-bit error,
every burst of up to 32 bits, any other change but for one in 2^32): it is no defence against
whoever can write the folder, and no unkeyed digest would be one, for they could compute a
sha256 as easily. With ``BARQUE_STORE_KEY`` set it is an HMAC-SHA256 under the key, so whoever
can write the folder but lacks the key cannot make barque believe a file it did not write
(another code's hashes, another outcome). ``zlib`` costs a slim run ~0.5 ms to import,
``hashlib`` with OpenSSL ~4 ms of CPU (bench/FINDINGS.md), so the unkeyed seal uses the former
and only a keyed one loads the latter. This module imports nothing of barque's, so the slim
entry (``barque_cli.fastrun``) can use it.
"""

from __future__ import annotations

import os
import zlib

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
        return b"crc32:%08x" % zlib.crc32(body)
    import hashlib
    import hmac

    return b"hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def sealed(body: bytes, key: bytes | None) -> bytes:
    """The whole sealed file for ``body``."""
    return seal(body, key) + b"\n" + body


def unseal(data: bytes, key: bytes | None) -> bytes | None:
    """The body of a sealed file whose first line seals it as this process would; else ``None``."""
    first, sep, body = data.partition(b"\n")
    if not sep:
        return None
    if key is None:  # not secret: a plain comparison
        return body if first == seal(body, None) else None
    import hmac

    return body if hmac.compare_digest(first, seal(body, key)) else None
