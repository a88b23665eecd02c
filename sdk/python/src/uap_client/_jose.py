"""In-process JWT checks for local mode: the JWKS of ``/.well-known/jwks.json``
turned into public keys, and a token's signature and claims verified against
them (``cryptography``; RS256, ES256 and EdDSA only — ``none`` and HS* are
refused locally, as is a header ``alg`` that differs from the key's)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Mapping, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import TokenInvalid

__all__ = ["ALGORITHMS", "Claims", "Jwk", "ParsedToken", "parse_jwks", "parse_token", "verify"]

#: What local mode verifies; every other ``alg`` (``none``, HS*, PS*, ...) is refused.
ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})

#: Tokens longer than this are refused before any parsing (the server caps at 8192 too).
MAX_TOKEN_BYTES = 8192

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64url") from exc


def _int(text: Any) -> int:
    return int.from_bytes(_b64(text), "big")


@dataclass(frozen=True)
class Jwk:
    """One usable public key of the JWKS."""

    kid: str | None
    alg: str
    key: PublicKey


def _jwk(entry: Mapping[str, Any]) -> Jwk | None:
    """The key of one JWKS entry, or None when it is not a signing key local mode can use."""
    if entry.get("use") not in (None, "sig"):
        return None
    kty, crv, alg = entry.get("kty"), entry.get("crv"), entry.get("alg")
    kid = entry.get("kid")
    kid = kid if isinstance(kid, str) else None
    try:
        if kty == "RSA" and alg in (None, "RS256"):
            key: PublicKey = rsa.RSAPublicNumbers(_int(entry.get("e")), _int(entry.get("n"))).public_key()
            return Jwk(kid, "RS256", key)
        if kty == "EC" and crv == "P-256" and alg in (None, "ES256"):
            numbers = ec.EllipticCurvePublicNumbers(_int(entry.get("x")), _int(entry.get("y")), ec.SECP256R1())
            return Jwk(kid, "ES256", numbers.public_key())
        if kty == "OKP" and crv == "Ed25519" and alg in (None, "EdDSA", "Ed25519"):
            return Jwk(kid, "EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(_b64(entry.get("x"))))
    except ValueError:
        return None
    return None


def parse_jwks(body: Any) -> list[Jwk]:
    """The usable keys of a ``{"keys": [...]}`` document (others are skipped)."""
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ValueError("the JWKS is not an object with a 'keys' list")
    return [jwk for entry in body["keys"] if isinstance(entry, dict) for jwk in [_jwk(entry)] if jwk is not None]


@dataclass(frozen=True)
class ParsedToken:
    """A JWS split and decoded, not yet verified."""

    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes
    claims: dict[str, Any]


def parse_token(token: str) -> ParsedToken:
    """Splits and decodes a compact JWS; TokenInvalid when it is not one, or its
    ``alg`` is not one local mode verifies."""
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise TokenInvalid("Malformed token")
    head, body, sig = token.split(".")
    try:
        header = json.loads(_b64(head))
        claims = json.loads(_b64(body))
        signature = _b64(sig)
    except ValueError as exc:
        raise TokenInvalid("Malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenInvalid("Malformed token")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenInvalid(f"Token algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    return ParsedToken(alg, kid if isinstance(kid, str) else None, f"{head}.{body}".encode(), signature, claims)


@dataclass(frozen=True)
class Claims:
    """The claims local mode reads from a verified token."""

    session_id: str
    user_id: str
    exp: int
    iat: int
    kid: str | None


def _signature_ok(parsed: ParsedToken, jwk: Jwk) -> bool:
    try:
        if jwk.alg == "RS256" and isinstance(jwk.key, rsa.RSAPublicKey):
            jwk.key.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif jwk.alg == "ES256" and isinstance(jwk.key, ec.EllipticCurvePublicKey):
            if len(parsed.signature) != 64:
                return False
            r = int.from_bytes(parsed.signature[:32], "big")
            s = int.from_bytes(parsed.signature[32:], "big")
            jwk.key.verify(encode_dss_signature(r, s), parsed.signing_input, ec.ECDSA(hashes.SHA256()))
        elif jwk.alg == "EdDSA" and isinstance(jwk.key, ed25519.Ed25519PublicKey):
            jwk.key.verify(parsed.signature, parsed.signing_input)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def verify(
    parsed: ParsedToken, jwk: Jwk, *, now: float, issuer: str | None = None, audience: str | None = None
) -> Claims:
    """Signature (with the key's own algorithm), ``exp`` > now, ``iss`` and
    ``aud`` when given, and the session claims; TokenInvalid otherwise."""
    if parsed.alg != jwk.alg:
        raise TokenInvalid("Token algorithm does not match its key")
    if not _signature_ok(parsed, jwk):
        raise TokenInvalid("Bad token signature")
    claims = parsed.claims
    exp, iat = _whole(claims.get("exp")), _whole(claims.get("iat"))
    if exp is None or iat is None:
        raise TokenInvalid("Token without exp or iat")
    if exp <= now:
        raise TokenInvalid("Token expired")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenInvalid("Token issuer does not match")
    if audience is not None:
        aud = claims.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise TokenInvalid("Token audience does not match")
    session_id, user_id = claims.get("session_id"), claims.get("user_id")
    if not isinstance(session_id, str) or not session_id or user_id is None:
        raise TokenInvalid("Token without session_id or user_id")
    return Claims(session_id, str(user_id), exp, iat, parsed.kid)
