"""Encryption at rest for integration secrets (Fernet, keys from the environment, rotatable)."""
from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    # The first key encrypts; every key decrypts, so a new key can be put first and old rows re-encrypted later.
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ValueError("An integration secret cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS.") from exc


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode() if token else token
