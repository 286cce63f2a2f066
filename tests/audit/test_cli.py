"""`paymesh audit`: keygen, holds, checkpoint, verify (whole log, and a held checkpoint), purge, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from paymesh.audit import app as audit_cli
from tests.audit.helpers import SIGNER_KEY, VERIFIER_KEY

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(audit_cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_keygen_prints_a_signer_and_its_verifier_key() -> None:
    from functions.audit import note

    lines = run("keygen", "audit.example").splitlines()
    signer = lines[0].removeprefix("signer key (secret): ")
    verifier = lines[1].removeprefix("verifier key: ")
    assert signer.startswith("PRIVATE+KEY+audit.example+") and note.verifier_of(signer) == verifier
    assert "white space" in run("keygen", "bad name", code=2)


def test_cli_holds_checkpoint_verify_purge_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("PAYMESH_AUDIT_SIGNING_KEY", SIGNER_KEY)

    held = json.loads(run("hold", "add", "--subject", "pay_1", "--reason", "case 7"))
    assert held["kind"] == "subject" and json.loads(run("hold", "list", "--active"))[0]["id"] == held["id"]
    note = run("checkpoint")
    assert note.startswith("audit.test\n1\n") and "\n— audit.test " in note
    (tmp_path / "held.note").write_text(note)
    dry = json.loads(run("purge", "--dry-run"))
    assert (dry["purged"], dry["dryRun"]) == (0, True)
    assert json.loads(run("purge"))["purgeRecordSequence"] == 2
    assert json.loads(run("verify"))["count"] == 2
    checked = json.loads(run("verify", "--checkpoint", str(tmp_path / "held.note"), "--records"))
    assert checked == {"ok": True, "heldSize": 1, "currentSize": 2, "recordsChecked": 2, "problems": []}
    assert json.loads(run("verify", "--checkpoint", str(tmp_path / "held.note"), "--key", VERIFIER_KEY))["ok"]
    assert len(json.loads(run("checkpoints"))) >= 1
    lines = run("export").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["legal-hold.placed", "retention.purged"]
    run("hold", "release", "1")
    run("hold", "release", "1", code=1)
    run("hold", "add", "--reason", "none", code=2)

    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_records SET actor = 'x' WHERE sequence = 2"))
    engine.dispose()
    assert json.loads(run("verify", code=1))["firstBadSequence"] == 2
    tampered = json.loads(run("verify", "--checkpoint", str(tmp_path / "held.note"), "--records", code=1))
    assert tampered["problems"] == ["record at leaf index 1 is not in the tree as its checkpoint says"]
    other_log = run("keygen", "audit.other").splitlines()[1].removeprefix("verifier key: ")
    refused = json.loads(run("verify", "--checkpoint", str(tmp_path / "held.note"), "--key", other_log, code=1))
    assert "held checkpoint does not verify" in refused["problems"][0]


def test_verify_refuses_a_store_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PAYMESH_DATABASE_URL", raising=False)
    home = tmp_path / "nowhere"
    assert "no audit store" in run("verify", "--home", str(home), code=2)
    assert not home.exists()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}")
    (tmp_path / "held.note").write_text("x\n")
    assert "no audit store" in run("verify", "--checkpoint", str(tmp_path / "held.note"), "--key", VERIFIER_KEY,
                                   code=2)
    assert not (tmp_path / "missing.db").exists()
