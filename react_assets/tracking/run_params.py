"""MLflow run parameters: nested configs flattened to dotted keys, credentials left out."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from mlflow.utils import validation as limits

_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_SECRET_WORDS = {"password", "passwd", "pwd", "secret", "secrets", "token", "credential",
                 "credentials", "auth", "authorization", "apikey", "bearer", "cookie"}
_KEY_QUALIFIERS = {"api", "access", "private", "secret", "signing", "encryption"}
_TOKEN_SHAPES = re.compile(r"^(sk-|hf_|ghp_|gho_|github_pat_|xox[abprs]-|AKIA|ASIA)[\w\-]{10,}$")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings / dataclasses to dotted keys with string values.

    Sequences become JSON; characters MLflow refuses in keys become ``_``; values are truncated to
    MLflow's parameter limit. A key longer than MLflow's key limit raises (truncating it could
    merge two parameters).
    """
    flat: dict[str, str] = {}
    for raw_key, value in params.items():
        key = _BAD_KEY_CHARS.sub("_", f"{prefix}{raw_key}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{key}."))
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            text = json.dumps(list(value), default=str)
        else:
            text = str(value)
        if len(key) > limits.MAX_ENTITY_KEY_LENGTH:
            raise ValueError(f"param key {key[:80]}... is {len(key)} characters, over MLflow's "
                             f"limit of {limits.MAX_ENTITY_KEY_LENGTH}")
        flat[key] = text[:limits.MAX_PARAM_VAL_LENGTH]
    return flat


def _entropy_bits_per_char(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_secret(key: str, value: str) -> bool:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # hfToken -> hf_Token
    words = {w.lower() for w in re.split(r"[._\-/ :]+", snake) if w}
    if words & _SECRET_WORDS or _TOKEN_SHAPES.match(value.strip()):
        return True
    if "key" in words:
        if words & _KEY_QUALIFIERS:
            return True
        return (len(value) >= 16 and not re.search(r"\s", value)
                and _entropy_bits_per_char(value) >= 3.5)
    return False


def redact_secrets(values: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Drop entries that look like credentials; return (kept, dropped keys).

    Dropped: keys with a word such as password / secret / token / credential / auth, ``*api_key``
    style keys, any ``key`` whose value is a long high-entropy string, and values shaped like
    known tokens (``sk-``, ``hf_``, ``ghp_``, ``AKIA``...). Passwords inside URLs
    (``scheme://user:pass@host``) are masked rather than dropped.
    """
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in values.items():
        if _looks_secret(key, value):
            dropped.append(key)
        else:
            kept[key] = _URL_PASSWORD.sub(r"\1:***@", value)
    return kept, dropped
