"""Token primitives: random raw tokens handed to people, SHA-256 digests kept in the database."""

import hashlib
import hmac
import secrets


def new_raw_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def hex_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def same(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison of two digests."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(bytes(a), bytes(b))
