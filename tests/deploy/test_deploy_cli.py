"""`paymesh deploy` and `paymesh rollback`, through the real `paymesh` CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paymesh.cli import app
from paymesh.deploy import FUNCTIONS, SINK_INGRESS, load_documents, previous_revision
from tests.deploy.policy import violations

runner = CliRunner()
DEPLOY = ["deploy", "--namespace", "pay-staging", "--image-prefix", "registry.example.com/team", "--tag", "1.2.3"]


def _deploy(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, Path]:
    out = tmp_path / "rendered"
    result = runner.invoke(app, [*DEPLOY, "--out", str(out), *extra], env=env)
    return result.exit_code, result.output, out


def _commands(output: str) -> list[str]:
    return [line for line in output.splitlines() if line and not line.startswith("#")]


def test_dry_run_prints_every_step_in_dependency_order_and_runs_nothing(tmp_path: Path) -> None:
    # An empty PATH: if the dry run tried to execute kn or kubectl it would fail.
    code, output, out = _deploy(tmp_path, "--dry-run", env={"PATH": str(tmp_path)})
    assert code == 0, output
    commands = _commands(output)

    def index(prefix: str) -> int:
        return next(i for i, line in enumerate(commands) if line.startswith(prefix))

    sinks = index(f"kubectl apply -f {out}/eventing/payments/kafkasinks.yaml")
    sources = index(f"kubectl apply -f {out}/eventing/payments/kafkasource.yaml")
    services = [index(f"kn service create {fn} --force --filename {out}/knative/{fn}.yaml --namespace pay-staging")
                for fn in FUNCTIONS]
    assert index(f"kubectl apply -f {out}/namespace.yaml") < index("kubectl get secret") < sinks
    assert sinks < min(services) and max(services) < sources
    assert index(f"kubectl apply -f {out}/knative/access.yaml") < min(services)  # no moment without the policies
    assert index("kubectl apply -f " + str(out / "eventing/strimzi/kafkatopics.yaml")) < sinks
    assert not any(line.startswith("kn source kafka create") for line in commands)


def test_dry_run_applies_every_rendered_file(tmp_path: Path) -> None:
    code, output, out = _deploy(tmp_path, "--dry-run")
    assert code == 0, output
    rendered = {str(path) for path in out.rglob("*.yaml")}
    assert len(rendered) == 1 + 4 + 1 + 4 * 2 + 2 + 2  # namespace, services, access, sources+sinks, pingsources, strimzi
    assert all(path in output for path in rendered)


def test_rendered_manifests_move_to_the_target_namespace_and_registry(tmp_path: Path) -> None:
    code, output, out = _deploy(tmp_path, "--dry-run")
    assert code == 0, output
    docs = [doc for path in sorted(out.rglob("*.yaml")) for doc in load_documents(path)]
    namespaces = {(doc["kind"], doc["metadata"].get("namespace")) for doc in docs}
    assert {ns for kind, ns in namespaces if not kind.startswith("Kafka") or kind in ("KafkaSource", "KafkaSink")} \
        == {"pay-staging", None}  # None: the Namespace itself
    assert {ns for kind, ns in namespaces if kind in ("KafkaTopic", "KafkaUser")} == {"kafka"}  # stay with the cluster
    for doc in docs:
        if doc["kind"] == "Service":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == f"registry.example.com/team/paymesh-{doc['metadata']['name']}:1.2.3"
            sink_urls = [e["value"] for e in container["env"] if e["name"].startswith("PAYMESH_SINK_")]
            assert sink_urls and all(url.startswith(f"{SINK_INGRESS}/pay-staging/") for url in sink_urls)
            subjects = [e["value"] for e in container["env"] if e["name"] in ("PAYMESH_AUTH_SENDERS",
                                                                              "PAYMESH_AUTH_READERS")]
            assert subjects and all(value.startswith("system:serviceaccount:pay-staging:") for value in subjects)
    assert violations(docs) == []
    assert "paymesh-payments:1.2.3" not in (Path("knative") / "payments.yaml").read_text()  # sources untouched


def test_no_strimzi_leaves_the_kafka_cluster_alone(tmp_path: Path) -> None:
    code, output, _ = _deploy(tmp_path, "--dry-run", "--no-strimzi")
    assert code == 0, output
    assert "kafkatopics.yaml" not in output and "kafkauser" not in output


def _recording_tool(directory: Path, name: str, log: Path, fail_on: str | None = None) -> None:
    # kn and kubectl cannot run here (no cluster): these stand-ins record their argv and succeed,
    # or fail when the command line contains `fail_on`.
    script = directory / name
    check = f'case "$*" in *"{fail_on}"*) exit 7;; esac\n' if fail_on else ""
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{check}exit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_a_real_run_executes_exactly_the_printed_commands(tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("kn", "kubectl"):
        _recording_tool(bin_dir, tool, log)
    code, output, _ = _deploy(tmp_path, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert code == 0, output
    assert log.read_text().splitlines() == _commands(output)


def test_a_failing_step_stops_the_deploy_with_its_exit_code(tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    _recording_tool(bin_dir, "kubectl", log, fail_on="get secret")
    _recording_tool(bin_dir, "kn", log)
    code, _, _ = _deploy(tmp_path, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert code == 7
    calls = log.read_text().splitlines()
    assert calls[-1].startswith("kubectl get secret") and not any(c.startswith("kn ") for c in calls)


def test_a_real_run_without_the_tools_says_which_are_missing(tmp_path: Path) -> None:
    code, output, _ = _deploy(tmp_path, env={"PATH": str(tmp_path)})
    assert code == 2
    assert "kn, kubectl not found" in output


def test_rollback_dry_run_to_a_named_revision() -> None:
    result = runner.invoke(app, ["rollback", "ledger", "--namespace", "pay-staging",
                                 "--to-revision", "ledger-00003", "--dry-run"], env={"PATH": ""})
    assert result.exit_code == 0, result.output
    assert _commands(result.output) == [
        "kn service update ledger --traffic ledger-00003=100 --namespace pay-staging"]


def test_rollback_refuses_an_unknown_function() -> None:
    result = runner.invoke(app, ["rollback", "billing", "--to-revision", "x", "--dry-run"])
    assert result.exit_code == 2
    assert "unknown function 'billing'" in result.output


def _revision(name: str, generation: int, ready: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"serving.knative.dev/configurationGeneration": str(generation)}},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


REVISIONS = {"apiVersion": "v1", "kind": "List", "items": [
    _revision("payments-00004", 4, "True"),
    _revision("payments-00003", 3, "False"),  # never became ready: not a rollback target
    _revision("payments-00002", 2, "True"),
    _revision("payments-00001", 1, "True"),
]}


def test_previous_revision_is_the_newest_ready_one_before_the_serving_one() -> None:
    assert previous_revision(REVISIONS, "payments-00004") == "payments-00002"
    assert previous_revision(REVISIONS, "payments-00002") == "payments-00001"


def test_previous_revision_explains_when_there_is_none() -> None:
    with pytest.raises(ValueError, match="no ready revision older than payments-00001"):
        previous_revision(REVISIONS, "payments-00001")
    with pytest.raises(ValueError, match="not in the list"):
        previous_revision(REVISIONS, "payments-00009")


def test_rollback_without_a_revision_asks_kn_for_the_previous_one(tmp_path: Path) -> None:
    # kn stand-in answering `service describe` and `revision list` the way kn does with -o json.
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    service = {"status": {"traffic": [{"revisionName": "payments-00004", "percent": 100, "latestRevision": True}]}}
    (tmp_path / "service.json").write_text(json.dumps(service))
    (tmp_path / "revisions.json").write_text(json.dumps(REVISIONS))
    script = bin_dir / "kn"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "kn $*" >> "{log}"\n'
        f'case "$*" in "service describe"*) cat "{tmp_path}/service.json";;'
        f' "revision list"*) cat "{tmp_path}/revisions.json";; esac\n')
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = runner.invoke(app, ["rollback", "payments", "--namespace", "prod"], env=env)
    assert result.exit_code == 0, result.output
    assert log.read_text().splitlines() == [
        "kn service describe payments --namespace prod -o json",
        "kn revision list --service payments --namespace prod -o json",
        "kn service update payments --traffic payments-00002=100 --namespace prod",
    ]


def test_rendered_manifests_still_match_the_crds(tmp_path: Path) -> None:
    from tests.deploy.crds import errors, load_validators

    code, output, out = _deploy(tmp_path, "--dry-run")
    assert code == 0, output
    validators = load_validators()
    docs = [doc for path in sorted(out.rglob("*.yaml")) for doc in load_documents(path)]
    knative = [doc for doc in docs if ".knative.dev/" in doc["apiVersion"]]
    assert len(knative) == len([d for d in docs if d["kind"] in ("Service", "KafkaSource", "KafkaSink",
                                                                   "PingSource")]) > 0
    assert [e for doc in knative for e in errors(validators, doc)] == []
