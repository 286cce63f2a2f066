"""Load the production manifests once for the deploy tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paymesh.deploy import load_documents, manifest_files

REPO = Path(__file__).resolve().parents[2]
Document = dict[str, Any]


def all_documents(repo: Path = REPO) -> list[tuple[str, Document]]:
    """(relative file, document) for every YAML document in knative/ and eventing/."""
    return [(str(rel), doc) for rel in manifest_files(repo) for doc in load_documents(repo / rel)]


def of_kind(kind: str, docs: list[tuple[str, Document]] | None = None) -> list[Document]:
    return [doc for _, doc in (all_documents() if docs is None else docs) if doc["kind"] == kind]


def doc_id(entry: tuple[str, Document]) -> str:
    return f"{entry[0]}:{entry[1]['kind']}/{entry[1]['metadata']['name']}"
