"""Personal data protection: AES-GCM encryption and a keyed HMAC blind index.

Personal data (resident ID numbers, personal names, phone numbers, e-mails, personal bank accounts)
is encrypted before it reaches the database. Each ciphertext names the key that made it, so keys
can rotate: ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
Equality lookups and joins use the blind index: HMAC-SHA256 of the normalised value under a key
derived from the data key, so equal values match without anyone reading them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from credit_dw.settings import get_settings

FORMAT_VERSION = 1


class PersonalDataProtector:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the personal-data key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"credit-dw key id" + key).digest()[:4]
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"credit-dw blind index"
        ).derive(key)

    def encrypt(self, value: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), self.key_id)
        return bytes([FORMAT_VERSION]) + self.key_id + nonce + sealed

    def decrypt(self, token: bytes) -> str:
        version, key_id, nonce, sealed = token[0], token[1:5], token[5:17], token[17:]
        if version != FORMAT_VERSION or key_id != self.key_id:
            raise ValueError("encrypted with another key or format; load that key to read it")
        return self._aead.decrypt(nonce, sealed, key_id).decode("utf-8")

    def blind_index(self, value: str) -> str:
        return hmac.new(self._index_key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()


def mask(value: str, kind: str) -> str:
    """What analysts may see of a personal value: enough to recognise it, not to use it.
    Resident ID 110***********1234, mobile 138****5678, e-mail z***@example.com, name 张*,
    account ****6819."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "resident_id" and len(text) > 7:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if kind == "mobile":
        digits = re.sub(r"\D", "", text)
        digits = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"
    if kind == "email" and "@" in text:
        local, domain = text.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if kind == "account" or text.isdigit() or re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", text):
        return "****" + text[-4:] if len(text) > 4 else "****"
    return text[:1] + "*" * max(len(text) - 1, 1)


def normalise(value: str) -> str:
    """The form equal values share: full-width folded, spaces and case ignored; phone numbers
    reduced to their digits (with a +86 country prefix dropped)."""
    folded = unicodedata.normalize("NFKC", value).strip().lower()
    folded = re.sub(r"\s+", "", folded)
    digits = re.sub(r"[\s\-()+]", "", folded)
    if digits.isdigit():
        return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    return folded


@lru_cache(maxsize=1)
def protector() -> PersonalDataProtector:
    return PersonalDataProtector(get_settings().encryption_key_bytes())
