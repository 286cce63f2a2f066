"""The Python transparency log against the independent Go implementation (golang.org/x/mod/sumdb/tlog and note).

tests/audit/interop/main.go, built in GOPATH mode against Debian's golang-golang-x-mod-dev, computes Go's stored
hashes, roots, proofs and signed notes for the same records, and gives its verdict on Python's proofs and notes:
Go must accept what Python makes and Python must accept what Go makes, byte for byte. Skips only without `go`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions.audit import note, tlog

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).with_name("interop") / "main.go"
GOPATH = os.environ.get("PAYMESH_GOPATH", "/usr/share/gocode")
LEAF_COUNT = 70  # every pair of sizes up to 64 and past it
ORIGIN = "go.sum database tree"  # Go's tlog.FormatTree is a checkpoint with this origin


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def flip(data: bytes, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(changed)


@pytest.fixture(scope="module")
def interop_binary() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (.ci/run installs golang-go and golang-golang-x-mod-dev)")
    if not (Path(GOPATH) / "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.fail(f"golang.org/x/mod is not under {GOPATH}: apt-get install golang-golang-x-mod-dev")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:16]
    cache = ROOT / ".paymesh" / "interop"
    binary = cache / f"interop-{digest}"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f"interop-{digest}.{os.getpid()}"
        env = {**os.environ, "GOPATH": GOPATH, "GO111MODULE": "off", "GOFLAGS": "",
               "GOCACHE": str(cache / "go-build")}
        subprocess.run([go, "build", "-o", str(partial), str(SOURCE)], cwd=SOURCE.parent, env=env, check=True,
                       timeout=300)
        partial.replace(binary)
    return binary


def run_go(binary: Path, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


class Log:
    """A log of LEAF_COUNT records kept in a list, appended a record at a time."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.hashes: list[bytes] = []
        for n, leaf in enumerate(leaves):
            self.hashes += tlog.stored_hashes(n, leaf, self.read)

    def read(self, indexes: Any) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def root(self, size: int) -> bytes:
        return tlog.tree_hash(size, self.read)


def record_verdict(proof: list[bytes], size: int, root: bytes, index: int, leaf_hash: bytes) -> str:
    try:
        return "ok" if tlog.check_record(proof, size, root, index, leaf_hash) else "invalid"
    except ValueError:
        return "error"


def tree_verdict(proof: list[bytes], size: int, root: bytes, old_size: int, old_root: bytes) -> str:
    try:
        return "ok" if tlog.check_tree(proof, size, root, old_size, old_root) else "invalid"
    except ValueError:
        return "error"


def record_cases(log: Log) -> list[tuple[list[bytes], int, bytes, int, bytes]]:
    """Python's inclusion proofs, each as made and with one change that must make it fail."""
    cases = []
    for size in range(1, LEAF_COUNT + 1):
        root = log.root(size)
        for index in range(size):
            proof = tlog.prove_record(size, index, log.read)
            leaf = tlog.leaf_hash(log.leaves[index])
            cases.append((proof, size, root, index, leaf))
            if proof:
                at = (size + index) % len(proof)
                cases.append(([*proof[:at], flip(proof[at], size * index), *proof[at + 1 :]], size, root, index, leaf))
                cases.append((proof[:-1], size, root, index, leaf))
            cases.append(([*proof, root], size, root, index, leaf))
            cases.append((proof, size, flip(root, index), index, leaf))
            cases.append((proof, size, root, index, flip(leaf, size)))
            if size > 1:
                cases.append((proof, size, root, (index + 1) % size, leaf))
    cases.append(([], 3, log.root(3), 3, tlog.leaf_hash(b"")))  # index past the tree: invalid input
    return cases


def tree_cases(log: Log) -> list[tuple[list[bytes], int, bytes, int, bytes]]:
    """Python's consistency proofs for every pair of sizes, as made and tampered."""
    cases = []
    for size in range(1, LEAF_COUNT + 1):
        root = log.root(size)
        for old_size in range(1, size + 1):
            old_root = log.root(old_size)
            proof = tlog.prove_tree(size, old_size, log.read)
            cases.append((proof, size, root, old_size, old_root))
            if proof:
                at = (size * old_size) % len(proof)
                cases.append(([*proof[:at], flip(proof[at], size + old_size), *proof[at + 1 :]], size, root,
                              old_size, old_root))
                cases.append((proof[1:], size, root, old_size, old_root))
            cases.append(([root, *proof], size, root, old_size, old_root))
            cases.append((proof, size, root, old_size, flip(old_root, size)))
            cases.append((proof, size, flip(root, old_size), old_size, old_root))
    cases.append(([], 2, log.root(2), 3, log.root(3)))  # old size past the new one: invalid input
    return cases


def note_cases(keys: dict[str, tuple[str, str]], text: str) -> list[tuple[bytes, list[str]]]:
    """Signed notes and verifier sets on which Go's note.Open and Python's open_note must agree."""
    alice, bob, carol = (note.Signer(keys[name][0]) for name in ("alice", "bob", "carol"))
    va, vb, vc = (keys[name][1] for name in ("alice", "bob", "carol"))
    both = note.sign_note(text, alice, bob)
    only_alice = note.sign_note(text, alice)
    signature_line = only_alice[only_alice.rindex(b"\n\n") + 2 :]
    cases: list[tuple[bytes, list[str]]] = [
        (only_alice, [va]), (both, [va]), (both, [vb]), (both, [va, vb]), (both, [vc]), (both, []),
        (only_alice, [vb, vc]), (both, [va, va]),
        (only_alice.replace(b"\n", b"\nx", 1), [va]),  # text changed after signing
        (flip(only_alice, 8 * (len(only_alice) - 10)), [va]),  # signature changed
        (only_alice + signature_line, [va]),  # the same signature twice
        (only_alice[:-1], [va]),  # no final newline
        (only_alice.replace(b"\n\n", b"\n"), [va]),  # no blank line before the signatures
        (only_alice.replace("—".encode(), b"-"), [va]),
        (only_alice.replace(b"\n", b"\r\n", 1), [va]),
        (b"\xff" + only_alice, [va]),
        (note.sign_note(text, carol, alice), [va]),  # a signature by an unknown key first
        (note.sign_note(text, *[bob] * 100, alice), [va]),  # 101 signature lines
        (note.sign_note(text, *[alice] * 100), [va]),
        (text.encode() + b"\n" + "— alice AAAA\n".encode(), [va]),  # signature under 5 bytes
        (text.encode() + b"\n" + "— alice !!!!\n".encode(), [va]),
        (note.sign_note("multi\n\nparagraph\n", alice), [va]),
        (note.sign_note("ünïcode ☃\n", alice), [va]),
    ]
    return cases + edge_key_cases()


def edge_key_cases() -> list[tuple[bytes, list[str]]]:
    """Degenerate Ed25519 public keys (small order, non-canonical, not on the curve) under trivial signatures."""
    cases = []
    for name, public in (("zero", bytes(32)), ("ones", b"\xff" * 32), ("two", b"\x02" + bytes(31)),
                         ("noncanonical", b"\xed" + b"\xff" * 30 + b"\x7f")):
        key = b"\x01" + public
        key_id = note.key_hash(name, key)
        vkey = f"{name}+{key_id:08x}+{b64(key)}"
        for signature in (bytes(64), b"\x01" + bytes(63), bytes(32) + b"\x01" + bytes(31)):
            line = f"— {name} {b64(key_id.to_bytes(4, 'big') + signature)}\n"
            cases.append((b"text\n\n" + line.encode(), [vkey]))
    return cases


def open_verdict(message: bytes, vkeys: list[str]) -> dict[str, Any]:
    try:
        return {"ok": True, "text": note.open_note(message, [note.Verifier(v) for v in vkeys])}
    except note.NoteError:
        return {"ok": False, "text": ""}


def test_python_and_go_agree_on_hashes_proofs_and_notes(interop_binary: Path) -> None:
    leaves = [hashlib.sha256(str(n).encode()).digest()[: n % 40] for n in range(LEAF_COUNT)]
    log = Log(leaves)
    keys = {name: note.generate_key(name) for name in ("alice", "bob", "carol")}
    records, trees = record_cases(log), tree_cases(log)
    text = note.format_checkpoint("example.com/paymesh-audit", LEAF_COUNT, log.root(LEAF_COUNT))
    notes = note_cases(keys, text)
    signing = [(text, ["alice"]), (text, ["alice", "bob"]), ("one line\n", ["carol"])]
    request = {
        "leaves": [b64(leaf) for leaf in leaves],
        "record_proofs": [{"size": s, "index": i, "root": b64(r), "leaf_hash": b64(h), "proof": [b64(p) for p in pr]}
                          for pr, s, r, i, h in records],
        "tree_proofs": [{"size": s, "old_size": o, "root": b64(r), "old_root": b64(orr), "proof": [b64(p) for p in pr]}
                        for pr, s, r, o, orr in trees],
        "notes": [{"message": b64(m), "verifiers": v} for m, v in notes],
        "sign": [{"text": t, "skeys": [keys[name][0] for name in names]} for t, names in signing],
        "generate": ["go.example/one", "go.example/two"],
    }
    go = run_go(interop_binary, request)

    # The same records give the same stored hashes, roots and checkpoints (records added one at a time or batched).
    assert [unb64(h) for h in go["stored_hashes"]] == log.hashes
    batched: list[bytes] = []

    def read_batched(indexes: Any) -> list[bytes]:
        return [batched[i] for i in indexes]

    for start, stop in ((0, 1), (1, 7), (7, 8), (8, 40), (40, LEAF_COUNT)):
        batched += tlog.stored_hashes_batch(start, leaves[start:stop], read_batched)
    assert batched == log.hashes
    assert [unb64(h) for h in go["tree_hashes"]] == [log.root(size) for size in range(LEAF_COUNT + 1)]
    assert go["checkpoints"] == [note.format_checkpoint(ORIGIN, size, log.root(size))
                                 for size in range(LEAF_COUNT + 1)]

    # Go's proofs are Python's proofs, and Python verifies each one.
    go_records = iter(go["record_proofs"])
    go_trees = iter(go["tree_proofs"])
    for size in range(1, LEAF_COUNT + 1):
        root = log.root(size)
        for index in range(size):
            proof = [unb64(h) for h in next(go_records)]
            assert proof == tlog.prove_record(size, index, log.read)
            assert tlog.check_record(proof, size, root, index, tlog.leaf_hash(leaves[index]))
        for old_size in range(1, size + 1):
            proof = [unb64(h) for h in next(go_trees)]
            assert proof == tlog.prove_tree(size, old_size, log.read)
            assert tlog.check_tree(proof, size, root, old_size, log.root(old_size))

    # Go gives every Python proof, as made or tampered, the verdict Python gives it.
    go_record_verdicts = [v.split(":")[0] for v in go["record_verdicts"]]
    assert go_record_verdicts == [record_verdict(*case) for case in records]
    assert go_record_verdicts.count("ok") == LEAF_COUNT * (LEAF_COUNT + 1) // 2
    go_tree_verdicts = [v.split(":")[0] for v in go["tree_verdicts"]]
    assert go_tree_verdicts == [tree_verdict(*case) for case in trees]
    assert go_tree_verdicts.count("ok") == LEAF_COUNT * (LEAF_COUNT + 1) // 2

    # Go opens exactly the Python-signed notes that Python opens, to the same text.
    python_verdicts = [open_verdict(message, vkeys) for message, vkeys in notes]
    assert [{"ok": v["ok"], "text": v["text"]} for v in go["note_verdicts"]] == python_verdicts
    assert [v["ok"] for v in python_verdicts].count(True) == 9 + 2  # and two degenerate keys

    # Go signs with Python's keys byte for byte as Python does (Ed25519 signatures are deterministic).
    for (signed_text, names), go_note in zip(signing, go["signed"], strict=True):
        assert unb64(go_note) == note.sign_note(signed_text, *(note.Signer(keys[n][0]) for n in names))

    # Python reads Go's keys, opens Go's checkpoint notes and signs them identically.
    for generated in go["generated"]:
        go_note = unb64(generated["note"])
        assert note.verifier_of(generated["skey"]) == generated["vkey"]
        opened = note.open_note(go_note, [note.Verifier(generated["vkey"])])
        assert note.parse_checkpoint(opened) == (ORIGIN, LEAF_COUNT, log.root(LEAF_COUNT))
        assert note.sign_note(opened, note.Signer(generated["skey"])) == go_note
        with pytest.raises(note.NoteError):
            note.open_note(go_note, [note.Verifier(keys["alice"][1])])
