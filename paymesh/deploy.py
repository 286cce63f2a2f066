"""`paymesh deploy` and `paymesh rollback`: apply knative/ and eventing/ with kn and kubectl.

The YAML files are the single source of truth. `deploy` renders them for a target namespace and image
registry into a directory, then applies the rendered files, so the dry run prints exactly what a real
run executes and leaves the files behind for review.

Which tool applies what, and why:
- Knative Services: `kn service create NAME --force --filename FILE`. kn has no flag for
  readOnlyRootFilesystem, runAsUser or an emptyDir's medium, so flags derived from the manifest would
  silently drop part of the security policy; `--filename` keeps the manifest whole and `--force`
  replaces (rather than merges into) an existing Service, so every deploy is a new revision that is
  exactly the file. kn waits until the revision is ready.
- KafkaSources: `kubectl apply`. `kn source kafka create` has no flags for delivery, initialOffset,
  ordering or net: a source created with it would run for a moment with no dead-letter sink (events
  lost), latest offsets and no SASL/TLS.
- KafkaSinks, Strimzi KafkaTopic/KafkaUser and the Namespace: `kubectl apply` (no kn command exists).
"""

from __future__ import annotations

import copy
import json
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

app = typer.Typer()

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("payments", "ledger", "notifications", "audit")
MANIFEST_NAMESPACE = "paymesh"
SINK_INGRESS = "http://kafka-sink-ingress.knative-eventing.svc.cluster.local"
PART_OF = "app.kubernetes.io/part-of=paymesh"

Document = dict[str, Any]


def load_documents(path: Path) -> list[Document]:
    """Every YAML document in a file, empty ones skipped."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def manifest_files(repo: Path = REPO) -> list[Path]:
    """knative/*.yaml and eventing/**/*.yaml, relative to the repository."""
    found = sorted((repo / "knative").glob("*.yaml")) + sorted((repo / "eventing").rglob("*.yaml"))
    return [path.relative_to(repo) for path in found]


@dataclass(frozen=True)
class Target:
    namespace: str
    image_prefix: str
    tag: str

    def image(self, function: str) -> str:
        return f"{self.image_prefix.rstrip('/')}/paymesh-{function}:{self.tag}"


def retarget(doc: Document, target: Target) -> Document:
    """A copy of a manifest moved to the target namespace and image registry.

    Only objects in the `paymesh` namespace move; Strimzi resources stay with their Kafka cluster.
    KafkaSink addresses carry the namespace in their path, so they move too.
    """
    doc = copy.deepcopy(doc)
    meta = doc.setdefault("metadata", {})
    if meta.get("namespace") != MANIFEST_NAMESPACE:
        return doc
    meta["namespace"] = target.namespace
    if doc.get("kind") == "Service":
        old_prefix = f"{SINK_INGRESS}/{MANIFEST_NAMESPACE}/"
        old_account = f"system:serviceaccount:{MANIFEST_NAMESPACE}:"
        for container in doc["spec"]["template"]["spec"]["containers"]:
            container["image"] = target.image(meta["name"])
            for env in container.get("env", []):
                value = env.get("value")
                if isinstance(value, str) and value.startswith(old_prefix):
                    env["value"] = f"{SINK_INGRESS}/{target.namespace}/{value.removeprefix(old_prefix)}"
                elif isinstance(value, str) and env.get("name", "").startswith("PAYMESH_AUTH_"):
                    # token subjects name the namespace of their service account, which moves too
                    env["value"] = value.replace(old_account, f"system:serviceaccount:{target.namespace}:")
    return doc


def _namespace_manifest(namespace: str) -> Document:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "paymesh"}}}


def render(out: Path, target: Target, repo: Path = REPO) -> list[Path]:
    """Write the retargeted manifests under `out` (same relative paths) plus namespace.yaml."""
    written = []
    sources = [(Path("namespace.yaml"), [_namespace_manifest(target.namespace)])]
    sources += [(rel, [retarget(doc, target) for doc in load_documents(repo / rel)]) for rel in manifest_files(repo)]
    for rel, docs in sources:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False, width=120), encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class Step:
    argv: tuple[str, ...]
    why: str

    def shell(self) -> str:
        return shlex.join(self.argv)


def _references(docs: Iterable[Document], kind: str) -> Iterator[str]:
    """Names of Secrets (kind "secret") or ConfigMaps (kind "configMap") the documents refer to."""
    stack: list[Any] = list(docs)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in (f"{kind}KeyRef", f"{kind}Ref") and isinstance(value, dict) and "name" in value:
                    yield str(value["name"])
                elif key == "auth" and kind == "secret" and isinstance(value, dict):
                    yield str(value["secret"]["ref"]["name"])
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def plan(out: Path, namespace: str, *, strimzi: bool = True) -> list[Step]:
    """The commands that apply a rendered directory, in dependency order."""
    ns = ("--namespace", namespace)

    def files(*rels: str) -> tuple[str, ...]:
        return tuple(arg for rel in rels for arg in ("-f", str(out / rel)))

    paymesh_docs = [doc for rel in ["knative", "eventing"] for path in sorted((out / rel).rglob("*.yaml"))
                    for doc in load_documents(path) if doc["metadata"].get("namespace") == namespace]
    secrets = sorted(set(_references(paymesh_docs, "secret")))
    config_maps = sorted(set(_references(paymesh_docs, "configMap")))

    steps = [Step(("kubectl", "apply", *files("namespace.yaml")), "the namespace")]
    if strimzi:
        kafka_ns = {doc["metadata"]["namespace"] for doc in load_documents(out / "eventing/strimzi/kafkatopics.yaml")}
        steps += [
            Step(("kubectl", "apply", *files("eventing/strimzi/kafkatopics.yaml", "eventing/strimzi/kafkausers.yaml")),
                 "Strimzi topics and SCRAM users with their ACLs"),
            *(Step(("kubectl", "wait", "--for=condition=Ready", "kafkatopic,kafkauser", "-l", PART_OF,
                    "--namespace", kns, "--timeout=180s"), "topics exist before anything reads or writes them")
              for kns in sorted(kafka_ns)),
        ]
    steps.append(Step(("kubectl", "get", "secret", *secrets, *ns),
                      "fails fast when a Secret the manifests refer to is missing (see README, Deploy to Knative)"))
    if config_maps:
        steps.append(Step(("kubectl", "get", "configmap", *config_maps, *ns), "the same for ConfigMaps"))
    steps += [
        Step(("kubectl", "apply", *files("knative/access.yaml")),
             "network policies (default deny, then each function's callers) and the reader/admin service accounts"),
        Step(("kubectl", "apply", *files(*(f"eventing/{fn}/kafkasinks.yaml" for fn in FUNCTIONS))),
             "KafkaSinks first: functions publish to them and sources dead-letter into them"),
        Step(("kubectl", "wait", "--for=condition=Ready", "kafkasink", "-l", PART_OF, *ns, "--timeout=180s"),
             "sinks ready"),
        *(Step(("kn", "service", "create", fn, "--force", "--filename", str(out / f"knative/{fn}.yaml"), *ns),
               f"Knative Service {fn}: a new revision, exactly the manifest; waits until ready")
          for fn in FUNCTIONS),
        Step(("kubectl", "apply", *files(*(f"eventing/{fn}/kafkasource.yaml" for fn in FUNCTIONS))),
             "KafkaSources last, once their Services and dead-letter sinks are ready"),
        Step(("kubectl", "wait", "--for=condition=Ready", "kafkasource", "-l", PART_OF, *ns, "--timeout=180s"),
             "sources consuming"),
    ]
    pings = [str(path.relative_to(out)) for path in sorted(out.glob("eventing/*/pingsource.yaml"))]
    if pings:
        steps.append(Step(("kubectl", "apply", *files(*pings)),
                          "PingSources (scheduled ticks, e.g. webhook retries) once their Services are ready"))
    return steps


def _require_tools(steps: Iterable[Step]) -> None:
    missing = sorted({step.argv[0] for step in steps if shutil.which(step.argv[0]) is None})
    if missing:
        typer.echo(f"paymesh: {', '.join(missing)} not found on PATH (use --dry-run to print the commands)", err=True)
        raise typer.Exit(2)


def _run(steps: list[Step], *, dry_run: bool) -> None:
    if not dry_run:
        _require_tools(steps)
    for step in steps:
        typer.echo(f"# {step.why}")
        typer.echo(step.shell())
        if dry_run:
            continue
        result = subprocess.run(step.argv, check=False)  # noqa: S603 - argv built from manifests, no shell
        if result.returncode != 0:
            typer.echo(f"paymesh: step failed with exit code {result.returncode}: {step.shell()}", err=True)
            raise typer.Exit(result.returncode)


def _default_tag() -> str:
    try:
        return metadata.version("paymesh")
    except metadata.PackageNotFoundError:
        return "latest"


@app.command()
def deploy(
    *,
    namespace: Annotated[str, typer.Option(help="target namespace (created if missing)")],
    image_prefix: Annotated[str, typer.Option(help="registry and path; images are PREFIX/paymesh-<fn>:TAG")],
    tag: Annotated[str | None, typer.Option(help="image tag [default: the paymesh version]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="render and print the commands, change nothing")] = False,
    out: Annotated[Path | None, typer.Option(help="where to write the rendered files [default: a temp dir]")] = None,
    strimzi: Annotated[bool, typer.Option(help="also apply the Strimzi KafkaTopic/KafkaUser resources")] = True,
) -> None:
    """Deploy the four functions and their eventing to a Knative cluster."""
    target = Target(namespace, image_prefix, tag or _default_tag())
    directory = out or Path(tempfile.mkdtemp(prefix=f"paymesh-deploy-{namespace}-"))
    render(directory, target)
    typer.echo(f"# rendered manifests: {directory}")
    _run(plan(directory, namespace, strimzi=strimzi), dry_run=dry_run)


def previous_revision(revisions: Document, serving: str) -> str:
    """The newest ready revision older than `serving`, from `kn revision list -o json`."""

    def generation(item: Document) -> int:
        return int(item["metadata"]["labels"]["serving.knative.dev/configurationGeneration"])

    def ready(item: Document) -> bool:
        conditions = item.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    items = revisions.get("items", [])
    current = next((item for item in items if item["metadata"]["name"] == serving), None)
    if current is None:
        raise ValueError(f"revision {serving} is not in the list")
    older = [item for item in items if ready(item) and generation(item) < generation(current)]
    if not older:
        raise ValueError(f"no ready revision older than {serving}")
    return str(max(older, key=generation)["metadata"]["name"])


def _kn_json(*argv: str) -> Document:
    result = subprocess.run(["kn", *argv, "-o", "json"], check=True, capture_output=True, text=True)  # noqa: S603, S607
    return dict(json.loads(result.stdout))


@app.command()
def rollback(
    function: Annotated[str, typer.Argument(help="payments, ledger, notifications or audit")],
    namespace: Annotated[str, typer.Option(help="namespace of the deployment")] = MANIFEST_NAMESPACE,
    to_revision: Annotated[str | None, typer.Option(help="revision to send 100% of traffic to "
                                                    "[default: the newest ready one before the current]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command, change nothing")] = False,
) -> None:
    """Send all traffic of a function back to an earlier Knative revision."""
    if function not in FUNCTIONS:
        typer.echo(f"paymesh: unknown function {function!r}; one of {', '.join(FUNCTIONS)}", err=True)
        raise typer.Exit(2)
    ns = ("--namespace", namespace)
    if to_revision is None:
        _require_tools([Step(("kn",), "")])
        # Read-only look-ups, done even in a dry run so it prints the real target.
        service = _kn_json("service", "describe", function, *ns)
        traffic = service.get("status", {}).get("traffic", [])
        serving = max(traffic, key=lambda t: t.get("percent", 0))["revisionName"]
        try:
            to_revision = previous_revision(_kn_json("revision", "list", "--service", function, *ns), serving)
        except ValueError as error:
            typer.echo(f"paymesh: cannot roll back {function}: {error}", err=True)
            raise typer.Exit(1) from None
    _run([Step(("kn", "service", "update", function, "--traffic", f"{to_revision}=100", *ns),
               f"all traffic of {function} to {to_revision}; roll forward with --traffic @latest=100 or a deploy")],
         dry_run=dry_run)
