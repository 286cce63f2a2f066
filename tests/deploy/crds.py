"""Validators built from the upstream Knative CRDs, made strict: an unknown field is an error
wherever the CRD does not explicitly keep unknown fields (x-kubernetes-preserve-unknown-fields)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

CRD_DIR = Path(__file__).resolve().parent / "knative-crds"
Schema = dict[str, Any]


def strict(node: Any) -> Any:
    """Set additionalProperties: false on every typed object that does not preserve unknown fields."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict(value) if key in ("properties", "items", "additionalProperties", "allOf", "anyOf", "oneOf")
            else value for key, value in node.items()}
    if "properties" in node:
        node["properties"] = {key: strict(value) for key, value in node["properties"].items()}
    if (node.get("type") == "object" and "properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    return node


def load_validators(directory: Path = CRD_DIR) -> dict[tuple[str, str], Draft7Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD file in the directory."""
    validators = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", False):
                continue
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # The API server always accepts these at the root, whether or not a CRD declares them.
            schema.setdefault("properties", {}).update(
                {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
            schema = strict(schema)
            validators[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return validators


def errors(validators: dict[tuple[str, str], Draft7Validator], doc: dict[str, Any]) -> list[str]:
    validator = validators[(doc["apiVersion"], doc["kind"])]
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator.iter_errors(doc)]
