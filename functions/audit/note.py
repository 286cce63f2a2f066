"""Signed notes (C2SP signed-note, Ed25519) and tlog checkpoints, as golang.org/x/mod/sumdb/note reads and writes them.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature: an em dash, a space, the key
name, a space, and base64 of the 4-byte key hash followed by the Ed25519 signature of the text. Key texts:
  signer   PRIVATE+KEY+<name>+<hash %08x>+base64(0x01 || 32-byte seed)
  verifier <name>+<hash %08x>+base64(0x01 || 32-byte public key)
where hash is the first 4 bytes (big-endian) of SHA-256(name || "\\n" || 0x01 || public key).
Key errors never echo the key text: a signer key is a secret.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 1
SIGNATURES_MAX = 100  # sumdb/note refuses a note with more signature lines than this
_SIG_PREFIX = "— ".encode()
# Go's unicode.IsSpace: the Unicode White_Space property (str.isspace also counts U+001C..U+001F).
_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX8 = re.compile(r"[0-9A-Fa-f]{8}")


class NoteError(ValueError):
    """A note that is malformed, or that no known key signed validly."""


def key_hash(name: str, key: bytes) -> int:
    """The 32-bit id of a key: its algorithm byte and public key, bound to its name."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + key).digest()[:4], "big")


def is_valid_name(name: str) -> bool:
    """A key name: non-empty UTF-8 without white space or '+'."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return name != "" and "+" not in name and not any(c in _SPACES for c in name)


class Verifier:
    def __init__(self, vkey_text: str) -> None:
        name, rest = _chop(vkey_text, "+")
        hash_hex, key_b64 = _chop(rest, "+")
        key = _b64decode(key_b64)
        if not _HEX8.fullmatch(hash_hex) or key is None or not key or not is_valid_name(name):
            raise ValueError("malformed verifier key")
        if int(hash_hex, 16) != key_hash(name, key):
            raise ValueError("verifier key hash does not match its name and key")
        if key[0] != ALG_ED25519:
            raise ValueError("unknown verifier key algorithm")
        if len(key) != 33:
            raise ValueError("malformed verifier key")
        self.name = name
        self.key_hash = int(hash_hex, 16)
        self._public = Ed25519PublicKey.from_public_bytes(key[1:])

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    def __init__(self, skey_text: str) -> None:
        private, rest = _chop(skey_text, "+")
        key_word, rest = _chop(rest, "+")
        name, rest = _chop(rest, "+")
        hash_hex, key_b64 = _chop(rest, "+")
        key = _b64decode(key_b64)
        if (private, key_word) != ("PRIVATE", "KEY") or not _HEX8.fullmatch(hash_hex) or key is None or not key:
            raise ValueError("malformed signer key")
        if not is_valid_name(name):
            raise ValueError("malformed signer key")
        if key[0] != ALG_ED25519:
            raise ValueError("unknown signer key algorithm")
        if len(key) != 33:
            raise ValueError("malformed signer key")
        self._private = Ed25519PrivateKey.from_private_bytes(key[1:])
        self.public_key = bytes([ALG_ED25519]) + self._private.public_key().public_bytes_raw()
        if int(hash_hex, 16) != key_hash(name, self.public_key):
            raise ValueError("signer key hash does not match its name and key")
        self.name = name
        self.key_hash = int(hash_hex, 16)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_hash:08x})"


def generate_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key pair as (signer key text, verifier key text)."""
    if not is_valid_name(name):
        raise ValueError("a key name must be non-empty, without white space or '+'")
    private = Ed25519PrivateKey.generate()
    public = bytes([ALG_ED25519]) + private.public_key().public_bytes_raw()
    seed = bytes([ALG_ED25519]) + private.private_bytes_raw()
    key_id = f"{name}+{key_hash(name, public):08x}"
    return f"PRIVATE+KEY+{key_id}+{_b64encode(seed)}", f"{key_id}+{_b64encode(public)}"


def verifier_of(skey_text: str) -> str:
    """The verifier key text that matches a signer key text."""
    signer = Signer(skey_text)
    return f"{signer.name}+{signer.key_hash:08x}+{_b64encode(signer.public_key)}"


def sign_note(text: str, *signers: Signer) -> bytes:
    """The signed note: `text` (which must end in a newline), a blank line, one signature line per signer."""
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    if _has_control(text):
        raise NoteError("note text must not contain control characters other than newline")
    body = text.encode()
    lines = []
    for signer in signers:
        if not is_valid_name(signer.name):
            raise NoteError("invalid signer name")
        signature = signer.key_hash.to_bytes(4, "big") + signer.sign(body)
        lines.append(f"— {signer.name} {_b64encode(signature)}\n")
    return body + b"\n" + "".join(lines).encode()


def open_note(message: bytes, verifiers: Sequence[Verifier]) -> str:
    """The text of a note that at least one of `verifiers` signed validly; NoteError otherwise."""
    try:
        decoded = message.decode()
    except UnicodeDecodeError:
        raise NoteError("malformed note: not UTF-8") from None
    if _has_control(decoded):
        raise NoteError("malformed note: control character")
    split = message.rfind(b"\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, signatures = message[: split + 1], message[split + 2 :]
    if not signatures.endswith(b"\n"):
        raise NoteError("malformed note: no signature lines")
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_hash), []).append(verifier)
    verified: set[tuple[str, int]] = set()
    for count, raw in enumerate(signatures[:-1].split(b"\n"), start=1):
        name, key_id, signature = _signature_line(raw)
        if count > SIGNATURES_MAX:
            raise NoteError("malformed note: too many signatures")
        candidates = known.get((name, key_id), [])
        if not candidates:
            continue  # a signature by a key the caller does not know
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {name}+{key_id:08x}")
        if (name, key_id) in verified:
            continue
        if not candidates[0].verify(text, signature):
            raise NoteError(f"invalid signature for key {name}+{key_id:08x}")
        verified.add((name, key_id))
    if not verified:
        raise NoteError("note has no verifiable signatures")
    return text.decode()


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The C2SP tlog-checkpoint note text: origin, tree size, base64 root hash, each on its own line."""
    if not origin or "\n" in origin or _has_control(origin):
        raise ValueError("checkpoint origin must be one non-empty line")
    if not 0 <= size < 1 << 64:
        raise ValueError("checkpoint size must be between 0 and 2^64-1")
    if len(root) != 32:
        raise ValueError("checkpoint root must be 32 bytes")
    return f"{origin}\n{size}\n{_b64encode(root)}\n"


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note text; extension lines after the root are allowed and ignored."""
    if not text.endswith("\n") or _has_control(text):
        raise ValueError("checkpoint must be lines of text ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise ValueError("checkpoint must have at least three non-empty lines")
    origin, size_text, root_text = lines[:3]
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 1 << 64:
        raise ValueError("checkpoint size must be a decimal number without leading zeros")
    root = _b64decode(root_text)
    if root is None or len(root) != 32:
        raise ValueError("checkpoint root must be the base64 of 32 bytes")
    return origin, int(size_text), root


def _signature_line(raw: bytes) -> tuple[str, int, bytes]:
    if not raw.startswith(_SIG_PREFIX):
        raise NoteError("malformed note: signature line without the em dash prefix")
    name, signature_b64 = _chop(raw[len(_SIG_PREFIX) :].decode(), " ")
    signature = _b64decode(signature_b64)
    if signature is None or not is_valid_name(name) or not signature_b64 or len(signature) < 5:
        raise NoteError("malformed note: bad signature line")
    return name, int.from_bytes(signature[:4], "big"), signature[4:]


def _chop(text: str, separator: str) -> tuple[str, str]:
    before, _, after = text.partition(separator)
    return before, after


def _has_control(text: str) -> bool:
    return any(c < " " and c != "\n" for c in text)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64decode(text: str) -> bytes | None:
    """Standard padded base64 as Go's base64.StdEncoding reads it (ignoring CR and LF), or None."""
    text = text.replace("\r", "").replace("\n", "")
    if not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return None
