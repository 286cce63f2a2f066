"""The holder of an earlier checkpoint catches every rewrite of the log, even by a forger holding the
signing key: `paymesh audit verify --checkpoint` logic (paymesh/audit_holder.py) over the HTTP routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paymesh.audit_holder import HolderCheck, HttpLog, check
from tests.audit.forgery import forge_copy_of_row_2_as_row_3, rebuild_tree, renumber
from tests.audit.helpers import VERIFIER_KEY, Audit, audit_function


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path) as function:
        for n in range(6):
            assert function.post(subject=f"pay_{n}").status_code == 204
        yield function


def held(audit: Audit) -> bytes:
    data: bytes = audit.get("/checkpoint").data
    return data


def holder_check(audit: Audit, note: bytes, *, records: bool = False) -> HolderCheck:
    client = httpx.Client(transport=httpx.WSGITransport(app=audit.client.application), base_url="http://audit")
    return check(HttpLog("http://audit", client), VERIFIER_KEY, note, records=records)


def test_an_honest_log_extends_every_checkpoint_it_signed(audit: Audit) -> None:
    first = held(audit)
    for n in range(5):
        assert audit.post(subject=f"later_{n}").status_code == 204
    result = holder_check(audit, first, records=True)
    assert result.to_json() == {"ok": True, "heldSize": 6, "currentSize": 11, "recordsChecked": 11, "problems": []}
    assert holder_check(audit, held(audit)).ok


def test_a_held_checkpoint_with_a_bad_signature_is_refused(audit: Audit) -> None:
    note = held(audit).replace(b"\n6\n", b"\n7\n")
    result = holder_check(audit, note)
    assert not result.ok and "held checkpoint does not verify" in result.problems[0]


@pytest.mark.parametrize("forgery", ["change", "delete", "insert", "reorder", "truncate"])
def test_a_rewritten_log_resigned_with_the_stolen_key_is_caught(audit: Audit, forgery: str) -> None:
    note = held(audit)
    for name in ("after_1", "after_2"):
        assert audit.post(subject=name).status_code == 204
    if forgery == "change":
        audit.execute("UPDATE audit_records SET actor = 'forger' WHERE sequence = 3")
    elif forgery == "delete":
        audit.execute("DELETE FROM audit_records WHERE sequence = 3")
        renumber(audit)
    elif forgery == "insert":
        audit.execute("UPDATE audit_records SET sequence = sequence + 100 WHERE sequence > 2")
        audit.execute("UPDATE audit_records SET sequence = sequence - 99 WHERE sequence > 100")
        forge_copy_of_row_2_as_row_3(audit)
    elif forgery == "reorder":
        audit.execute("UPDATE audit_records SET sequence = 100 WHERE sequence = 2")
        audit.execute("UPDATE audit_records SET sequence = 2 WHERE sequence = 4")
        audit.execute("UPDATE audit_records SET sequence = 4 WHERE sequence = 100")
    elif forgery == "truncate":
        audit.execute("DELETE FROM audit_records WHERE sequence >= 6")
    rebuild_tree(audit, resign=True)
    result = holder_check(audit, note)
    assert not result.ok, result
    expected = "shrank" if forgery == "truncate" else "does not extend the held checkpoint"
    assert any(expected in problem for problem in result.problems), result.problems


def test_a_rewritten_tree_and_head_without_the_key_is_caught(audit: Audit) -> None:
    """Without the key the forger keeps the old signed note: the records no longer prove into its root; and
    once the function signs its next checkpoint over the rewritten tree, that no longer extends the held one."""
    note = held(audit)
    audit.execute("UPDATE audit_records SET actor = 'forger' WHERE sequence >= 2")
    rebuild_tree(audit, resign=False)
    result = holder_check(audit, note, records=True)
    # even record 0, unchanged, no longer proves: its proof runs through rewritten hashes
    assert result.problems == ["record at leaf index 0 is not in the tree as its checkpoint says"]
    assert audit.post(subject="after").status_code == 204
    result = holder_check(audit, note)
    assert result.problems == ["the log of 7 records does not extend the held checkpoint"]


def test_changed_content_under_an_intact_tree_is_caught_by_the_inclusion_checks(audit: Audit) -> None:
    note = held(audit)
    audit.execute("UPDATE audit_records SET actor = 'forger' WHERE sequence = 4")
    assert holder_check(audit, note).ok  # the tree itself is untouched
    result = holder_check(audit, note, records=True)
    assert not result.ok
    assert result.problems == ["record at leaf index 3 is not in the tree as its checkpoint says"]
