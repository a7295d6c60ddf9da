"""What a reader of the store may believe, and what a writer may put there.

The trust model (also in the README, "Trusting a shared store"):

- **Decoding.** A value is decoded only with a serializer the *node* allows, never because a
  record says so: a node that declares ``serializer=`` is decoded with that one alone; an
  undeclared (automatic) node with JSON, Parquet or pickle, as the writer may have chosen any.
  So a record that claims ``pickle`` for a ``serializer="json"`` node is refused, and commands
  that only need to know *whether* something is stored (``--dry-run``, ``plan``, status)
  decode at most JSON, which runs no code.
- **Authentication.** With ``BARQUE_STORE_KEY`` set (any string; in a cluster put it in the
  store's credentials Secret, which the chart loads into the operator and the operator into
  every step Pod), every commit record, ref, step record, run spec and phase carries an
  HMAC-SHA256 under that key, and the spec pins the digest of the inline code. A commit record,
  ref or step record without a valid MAC is treated as missing (recomputed and rewritten); a
  spec, phase or code snapshot that fails is a ``StoreError``. Without a key nothing is
  checked: anyone who can write the store can then make a reader unpickle what they wrote for
  an automatic node. That is fine for a folder only you write; set a key on a shared bucket.
  Turning a key on, or changing it, recomputes everything once.
- **Secrets.** The values of ``env=[...]`` variables never reach the store: the run spec and
  the cache key hold a keyed digest of each value. The key is ``BARQUE_STORE_KEY`` when set
  (HMAC: unguessable without the key). Otherwise it is a random salt kept in the store itself
  (``keys/env-salt``), stretched with PBKDF2: this defeats precomputed tables and makes each
  guess cost, but whoever can read the store can still try guesses against a short or
  guessable value offline. Set a key when the values are secrets and others can read the store.
- **Display.** Variables whose names look secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``,
  ``*KEY*``...) are shown as ``<redacted>`` wherever env values would be shown, and their
  values (of at least ``_MIN_SCRUBBED`` characters, so a ``true`` is not hunted down
  everywhere) are replaced by ``<redacted>`` in what a step leaves behind: captured logs and
  the error of a failed step, hence the summary and the operator's status, which show it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Any, Mapping

from barque import seal
from barque.errors import StoreError
from barque.serializers import JSON, PARQUET, PICKLE, canonical_json
from barque.store.base import ArtifactStore

KEY_ENV = seal.KEY_ENV
MAC_FIELD = "mac"
REDACTED = "<redacted>"
SALT_KEY = "keys/env-salt"
DIGEST_PREFIX = "digest:"
_PBKDF2_ROUNDS = 20_000  # about 10 ms per variable here, paid once per run by whoever plans it
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PWD|KEY|CREDENTIAL|AUTH|PRIVATE|SIGNATURE|COOKIE|SESSION", re.IGNORECASE)
_MIN_SCRUBBED = 6
DATA_ONLY = frozenset({JSON})
AUTOMATIC = frozenset({JSON, PARQUET, PICKLE})


def configured_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The store key from ``BARQUE_STORE_KEY``, or ``None`` when it is unset or empty."""
    return seal.configured_key(environ)


def allowed_serializers(declared: str | None) -> frozenset[str]:
    """The serializers a node's value may be decoded with: its declared one, or any when automatic."""
    return frozenset({declared}) if declared else AUTOMATIC


def record_mac(record: Mapping[str, Any], key: bytes) -> str:
    """The HMAC-SHA256 of ``record`` (without its own ``mac``) in canonical JSON."""
    body = {k: v for k, v in record.items() if k != MAC_FIELD}
    return hmac.new(key, b"barque-record\0" + canonical_json(body), hashlib.sha256).hexdigest()


def sign(record: Mapping[str, Any], key: bytes | None) -> dict[str, Any]:
    """``record`` with its MAC under ``key``; unchanged (and unsigned) without a key."""
    body = {k: v for k, v in record.items() if k != MAC_FIELD}
    return {**body, MAC_FIELD: record_mac(body, key)} if key else body


def authentic(record: Mapping[str, Any], key: bytes | None) -> bool:
    """Whether ``record`` may be believed: always without a key, else only with a valid MAC."""
    if key is None:
        return True
    mac = record.get(MAC_FIELD)
    return isinstance(mac, str) and hmac.compare_digest(mac, record_mac(record, key))


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name suggests its value is a secret."""
    return bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, Any]) -> dict[str, Any]:
    """``env`` for display: the value of every secret-looking name replaced by ``<redacted>``."""
    return {name: REDACTED if looks_secret(name) and value is not None else value for name, value in env.items()}


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret-looking variables of ``environ`` (the process's by default), longest first."""
    env = os.environ if environ is None else environ
    found = {v for name, v in env.items() if looks_secret(name) and len(v) >= _MIN_SCRUBBED}
    return sorted(found, key=lambda v: (-len(v), v))  # longest first: a value inside another goes whole


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``<redacted>``."""
    for value in secrets:
        text = text.replace(value, REDACTED)
    return text


def scrub_bytes(data: bytes, secrets: list[str]) -> bytes:
    """``scrub`` for captured output, matching each secret's UTF-8 bytes."""
    for value in secrets:
        data = data.replace(value.encode("utf-8", "surrogateescape"), REDACTED.encode())
    return data


def env_digest(name: str, value: str | None, key: bytes | None, salt: bytes) -> str | None:
    """A digest of one variable's value that stands for it in cache keys; ``None`` stays ``None``.

    With a store key: an HMAC under it. Without: PBKDF2 over the store's salt (see the module
    docstring for what that does and does not protect).
    """
    if value is None:
        return None
    message = name.encode("utf-8", "surrogatepass") + b"\0" + value.encode("utf-8", "surrogatepass")
    if key:
        return DIGEST_PREFIX + hmac.new(key, b"barque-env\0" + message, hashlib.sha256).hexdigest()
    return DIGEST_PREFIX + hashlib.pbkdf2_hmac("sha256", message, b"barque-env\0" + salt, _PBKDF2_ROUNDS).hex()


def is_env_digest(value: object) -> bool:
    """Whether ``value`` is what ``env_digest`` returns (a digest, or ``None`` for an unset variable)."""
    return value is None or (isinstance(value, str) and value.startswith(DIGEST_PREFIX))


def env_digests(store: ArtifactStore, values: Mapping[str, str | None], *, key: bytes | None = None) -> dict[str, str | None]:
    """Digests of ``values`` (name -> value) for a run spec, keyed by the store key or the store's salt.

    Without a key, the first spec made for a store with ``env=`` writes its salt, even for a
    dry run (the one write a dry run may do); a store that cannot be written gets a
    throwaway salt, which is right: no record can then match a digest anyway.
    """
    if not values:
        return {}  # no env= anywhere: no salt is read or made
    key = key if key is not None else configured_key()
    salt = b"" if key else store_salt(store)
    return {name: env_digest(name, value, key, salt) for name, value in sorted(values.items())}


def store_salt(store: ArtifactStore) -> bytes:
    """The store's random env salt, made on first use."""
    salt = store.get(SALT_KEY)
    if salt:
        return salt
    salt = os.urandom(32)
    # Two first writers racing may each use their own salt for one run: their env digests
    # differ, so they miss each other's cache entries. Never a wrong hit.
    try:
        store.put(SALT_KEY, salt)
    except StoreError:
        pass  # a read-only store: a throwaway salt matches no record, which is the truth
    return salt
