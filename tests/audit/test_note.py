"""Signed notes and checkpoints: key text forms, signing, opening, and the rules a malformed note breaks."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.audit import note
from functions.audit.note import NoteError, Signer, Verifier

# A test key from the seed 00 01 .. 1f, and the note Go's sumdb/note.Sign made with it (tests/audit/interop).
SEED_KEY = "PRIVATE+KEY+paymesh.test/audit+81d0b03d+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
SEED_VERIFIER = "paymesh.test/audit+81d0b03d+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
GO_NOTE = (
    "paymesh.test/audit\n7\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n"
    "— paymesh.test/audit gdCwPWcn3gtLmtlG4cKFwBK4t3jG6sQAjgOpxwcnRm2yO8D57PLjuAuAxJJqoEn7tcP0l5D2lOH6zJL+OFETondN/QA=\n"
).encode()

ALICE = note.generate_key("alice.example/log")
BOB = note.generate_key("bob.example/log")


def test_keys_have_sumdb_note_text_forms() -> None:
    skey, vkey = ALICE
    assert re.fullmatch(r"PRIVATE\+KEY\+alice\.example/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", skey)
    assert re.fullmatch(r"alice\.example/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", vkey)
    public = base64.b64decode(vkey.split("+", 2)[2])
    assert public[0] == 1 and len(public) == 33
    digest = hashlib.sha256(b"alice.example/log\n" + public).digest()
    assert Verifier(vkey).key_hash == Signer(skey).key_hash == int.from_bytes(digest[:4], "big")
    assert vkey.split("+")[1] == f"{Verifier(vkey).key_hash:08x}"
    assert note.verifier_of(skey) == vkey
    assert Signer(skey).name == Verifier(vkey).name == "alice.example/log"


def test_python_signs_the_note_go_signed_byte_for_byte() -> None:
    assert note.verifier_of(SEED_KEY) == SEED_VERIFIER
    text = GO_NOTE[: GO_NOTE.index(b"\n\n") + 1].decode()
    assert note.sign_note(text, Signer(SEED_KEY)) == GO_NOTE
    assert note.open_note(GO_NOTE, [Verifier(SEED_VERIFIER)]) == text
    assert note.parse_checkpoint(text) == ("paymesh.test/audit", 7, hashlib.sha256(b"root").digest())


@settings(max_examples=50, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",))).map(lambda s: s + "\n"))
def test_any_text_signed_opens_to_itself(text: str) -> None:
    message = note.sign_note(text, Signer(ALICE[0]), Signer(BOB[0]))
    assert note.open_note(message, [Verifier(ALICE[1])]) == text
    assert note.open_note(message, [Verifier(BOB[1]), Verifier(ALICE[1])]) == text


def test_a_signature_line_names_the_key_and_carries_its_hash() -> None:
    message = note.sign_note("hello\n", Signer(ALICE[0]))
    line = message.decode().split("\n\n", 1)[1]
    assert line.startswith("— alice.example/log ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert int.from_bytes(raw[:4], "big") == Verifier(ALICE[1]).key_hash and len(raw) == 68
    assert Verifier(ALICE[1]).verify(b"hello\n", raw[4:])
    assert not Verifier(ALICE[1]).verify(b"hello!\n", raw[4:])
    assert not Verifier(ALICE[1]).verify(b"hello\n", raw[4:-1])


def open_fails(message: bytes, *vkeys: str) -> str:
    with pytest.raises(NoteError) as raised:
        note.open_note(message, [Verifier(v) for v in vkeys])
    return str(raised.value)


def test_notes_that_do_not_open() -> None:
    alice, bob = Signer(ALICE[0]), Signer(BOB[0])
    signed = note.sign_note("checkpoint\n1\n", alice)
    assert "no verifiable" in open_fails(signed, BOB[1])
    assert "no verifiable" in open_fails(signed)
    assert "invalid signature" in open_fails(signed.replace(b"checkpoint", b"checkpoinT"), ALICE[1])
    assert "ambiguous" in open_fails(signed, ALICE[1], ALICE[1])
    bad_signature = signed[:-6] + (b"AAAA=\n" if signed[-6:] != b"AAAA=\n" else b"BBBB=\n")
    assert "invalid signature" in open_fails(bad_signature, ALICE[1])
    for malformed in (
        signed[:-1],  # no final newline
        signed.replace(b"\n\n\xe2", b"\n\xe2"),  # no blank line before the signatures
        signed + b"\n",  # an empty signature line
        signed.replace("— ".encode(), b"-- "),
        signed.replace(b"checkpoint", b"check\tpoint"),
        b"\xc3(" + signed,
        b"text\n\n" + "— alice.example/log AAAA\n".encode(),  # under 5 bytes
        b"text\n\n" + "— alice.example/log AAAAAA==\n".encode(),
        b"text\n\n" + "— alice.example/log AAAAAAAA=\n".encode(),  # bad padding
        b"text\n\n" + "— alice.example/log\n".encode(),
        b"text\n\n" + "— al ice AAAAAAAA\n".encode(),
        note.sign_note("text\n", *[bob] * 100, alice),  # more than 100 signatures
    ):
        assert "malformed" in open_fails(malformed, ALICE[1]), malformed


def test_unknown_and_repeated_signatures_are_tolerated() -> None:
    alice, bob = Signer(ALICE[0]), Signer(BOB[0])
    message = note.sign_note("text\n", bob, alice, alice)
    assert note.open_note(message, [Verifier(ALICE[1])]) == "text\n"
    assert note.open_note(note.sign_note("text\n", *[alice] * 100), [Verifier(ALICE[1])]) == "text\n"


def test_sign_note_refuses_text_that_would_not_open() -> None:
    with pytest.raises(NoteError):
        note.sign_note("no newline", Signer(ALICE[0]))
    with pytest.raises(NoteError):
        note.sign_note("bell\a\n", Signer(ALICE[0]))


@pytest.mark.parametrize(
    "text",
    [
        "",
        SEED_VERIFIER.replace("81d0b03d", "81d0b03e"),  # hash does not match
        SEED_VERIFIER.replace("+81d0b03d", "+81d0b03"),
        SEED_VERIFIER.replace("+81d0b03d", "+0x81d0b03d"),
        SEED_VERIFIER.replace("+AQ", "+Ag"),
        SEED_VERIFIER[:-2],
        "bad name+81d0b03d+" + SEED_VERIFIER.rsplit("+", 1)[1],
        SEED_KEY,
    ],
)
def test_malformed_verifier_keys_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError):
        Verifier(text)


def test_the_key_hash_is_exactly_eight_hex_digits_of_either_case() -> None:
    public = SEED_VERIFIER.split("+", 2)[2]
    assert Verifier(f"paymesh.test/11+0a55bea2+{public}").key_hash == 0x0A55BEA2
    assert Verifier(f"paymesh.test/11+0A55BEA2+{public}").key_hash == 0x0A55BEA2
    with pytest.raises(ValueError):
        Verifier(f"paymesh.test/11+a55bea2+{public}")


@pytest.mark.parametrize(
    "text",
    [
        SEED_VERIFIER,
        SEED_KEY.replace("PRIVATE+KEY", "PRIVATE+KEE"),
        SEED_KEY.replace("81d0b03d", "81d0b03e"),
        SEED_KEY.replace("paymesh.test/audit", "paymesh.test/other"),
        SEED_KEY[:-4],
        SEED_KEY.replace("+AQ", "+Ag"),
    ],
)
def test_malformed_signer_keys_are_value_errors_that_do_not_echo_the_key(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        Signer(text)
    secret = text.rsplit("+", 1)[1]
    assert secret not in str(raised.value) and secret[:8] not in str(raised.value)
    assert secret[:8] not in repr(raised.value)


def test_a_signer_does_not_show_its_key() -> None:
    signer = Signer(SEED_KEY)
    assert "AQABAgMEBQYHCAkKCwwNDg8Q" not in repr(signer) and "AQABAgMEBQYHCAkKCwwNDg8Q" not in str(vars(signer))


def test_generate_key_refuses_names_sumdb_note_cannot_carry() -> None:
    for name in ("", "with space", "a+b", "tab\there", "nbsp\u00a0", "ideographic\u3000space"):
        with pytest.raises(ValueError):
            note.generate_key(name)
    assert note.generate_key("\x1cfile-separator")  # not white space to Go's unicode.IsSpace


def test_checkpoint_format_and_parse() -> None:
    root = hashlib.sha256(b"r").digest()
    text = note.format_checkpoint("example.com/log", 12, root)
    assert text == f"example.com/log\n12\n{base64.b64encode(root).decode()}\n"
    assert note.parse_checkpoint(text) == ("example.com/log", 12, root)
    assert note.parse_checkpoint(text + "extension line\n") == ("example.com/log", 12, root)
    assert note.parse_checkpoint(note.format_checkpoint("o", 0, root))[1] == 0


@pytest.mark.parametrize(
    "text",
    [
        "o\n12\n",
        "o\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1 \nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
    ],
)
def test_malformed_checkpoints_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError):
        note.parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("", 1, bytes(32)), ("two\nlines", 1, bytes(32)), ("o", -1, bytes(32)), ("o", 1 << 64, bytes(32)),
     ("o", 1, bytes(31))],
)
def test_format_checkpoint_refuses_what_parse_would(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(ValueError):
        note.format_checkpoint(origin, size, root)
