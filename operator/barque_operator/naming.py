"""Deterministic names for everything the operator creates: Jobs, label values, store run ids.

Pure. The same run and phase always give the same Job name, so a restarted operator finds
(or, on a 409, recognizes) the Job it created before instead of creating a second one.

Job names stay within 56 characters, not just the 63 of a DNS label: an Indexed Job's Pods
get the hostname ``<job>-<index>``, which must itself be a DNS label, and indexes go up to
10^5 (``-99999``). A name that would be longer keeps a readable prefix and ends with a
hash of the full name, so distinct runs never share a Job.
"""

from __future__ import annotations

import hashlib
import re

JOB_NAME_MAX = 56
LABEL_VALUE_MAX = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(name: str, limit: int) -> str:
    """``name`` if it fits, else a prefix plus ``-<hash of name>``; never ends with ``-``."""
    if len(name) <= limit:
        return name
    suffix = "-" + _digest(name)
    return name[: limit - len(suffix)].rstrip("-.") + suffix


def dns_label(text: str) -> str:
    """A DNS-1123 label derived from ``text`` (lower case, ``-`` for anything else)."""
    label = _NOT_DNS.sub("-", text.lower()).strip("-") or "x"
    return _fit(label, LABEL_VALUE_MAX)


def job_name(run_name: str, phase: int) -> str:
    """``<run>-p<phase>``, shortened with a hash suffix when it would be too long (or not a DNS label)."""
    name = f"{run_name}-p{phase}"
    if len(name) <= JOB_NAME_MAX and _LABEL.fullmatch(name):
        return name
    # The hash covers the original name, so two runs cut to the same prefix still differ.
    suffix = f"-p{phase}-{_digest(run_name)}"
    return dns_label(run_name)[: JOB_NAME_MAX - len(suffix)].rstrip("-") + suffix


def label_value(value: str) -> str:
    """A valid label value for ``value`` (at most 63 characters), cut and hash-suffixed when needed."""
    if len(value) <= LABEL_VALUE_MAX and _LABEL_VALUE.fullmatch(value):
        return value
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[: LABEL_VALUE_MAX - 9].strip("-_.")
    return f"{prefix}-{_digest(value)}" if prefix else _digest(value)


def run_id(namespace: str, name: str, uid: str) -> str:
    """The run's key prefix in the store: ``k8s/<namespace>/<name>-<uid8>`` (a re-created run gets a new id)."""
    return f"k8s/{namespace}/{name}-{uid.replace('-', '')[:8]}"


def scheduled_run_name(pipeline: str, scheduled_epoch: int) -> str:
    """A scheduled run's name: ``<pipeline>-<minutes since epoch>``, like CronJob's Jobs; the same slot gives the same name."""
    suffix = f"-{scheduled_epoch // 60}"
    return _fit(pipeline, 253 - len(suffix)).rstrip("-.") + suffix
