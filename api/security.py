"""Passwords, access tokens (JWT), worker tokens and credential encryption."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

JWT_ALGORITHM = "HS256"
# Argon2id at the OWASP Password Storage Cheat Sheet's configuration (19 MiB, 2 iterations, one
# lane). argon2-cffi's default (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes) made
# every login cost an API on two cores about four times the CPU for no gain the cheat sheet counts.
# Hashes made with other parameters still verify (they carry their own) and are made again at the
# next login (`password_needs_rehash`).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_needs_rehash(password_hash: str) -> bool:
    """Whether `password_hash` was made with parameters other than today's (then hash anew)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against a real hash when the user does not exist keeps the answer time the same,
# so login timing does not tell which usernames exist.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def create_access_token(subject: str, secret: str, lifetime: timedelta, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"sub": subject, "iat": now, "exp": now + lifetime, **claims}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> dict[str, Any]:
    """The token's claims; raises jwt.InvalidTokenError when forged or expired."""
    return jwt.decode(
        token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]}
    )


def new_api_token() -> str:
    return "gw_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CredentialCipher:
    """Encrypts camera addresses with credentials at rest (Fernet: AES-128-CBC + HMAC)."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    @classmethod
    def derived_from(cls, secret: str) -> CredentialCipher:
        """A cipher whose key is derived from another secret (development only)."""
        digest = hashlib.sha256(b"gridwatch-credentials:" + secret.encode()).digest()
        return cls(base64.urlsafe_b64encode(digest).decode())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as err:
            raise ValueError("stored credentials cannot be decrypted with this key") from err
