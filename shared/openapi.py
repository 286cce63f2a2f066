"""The OpenAPI 3.1 document of one function, generated from its FunctionSpec and the event catalog.

POST / with the CloudEvents it consumes (binary, structured and batch modes), the probes, and every
declared route with its path parameters, the query parameters it declares (shared.contract.Param), its
response and the runtime's error answers. Served at GET /openapi.json.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from shared.contract import FunctionSpec, Param, Route, Stream
from shared.events import CATALOG

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
# A path segment the HTTP router matches: no slash, no control characters.
PATH_VALUE = "^[^/\\x00-\\x1f\\x7f]+$"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. invalid_data"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the first field at fault"},
        "rule": {"type": "string", "description": "the rule it breaks"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "rule", "message"],
            "properties": {"field": {"type": "string"}, "rule": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
ERROR_TEXT = {400: "a malformed request, naming the field and the rule", 404: "nothing there",
              413: "the body or batch is too large", 415: "the event data is not JSON",
              422: "the event data breaks the schema or a rule", 503: "a transient failure: retry later"}
CLOUDEVENT_HEADERS = (("ce-specversion", "1.0 (binary mode)"), ("ce-id", "unique per source"),
                      ("ce-source", "the producer"), ("ce-type", "one of the consumed types"),
                      ("ce-subject", "the main entity's id"), ("ce-time", "RFC 3339"),
                      ("ce-correlationid", "kept on every output"), ("traceparent", "W3C trace context"))


def _version() -> str:
    try:
        return metadata.version("paymesh")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _error(status: int) -> dict[str, Any]:
    return {"description": ERROR_TEXT.get(status, "refused"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _event_schemas(types: Iterable[str], components: dict[str, Any]) -> list[dict[str, Any]]:
    """One $ref per type's data schema, adding the schemas (and their $defs) to `components`."""
    refs = []
    for event_type in sorted(types):
        model = CATALOG.get(event_type)
        if model is None:
            continue
        schema = model.model_json_schema(by_alias=True, mode="validation", ref_template=REF)
        components.update(schema.pop("$defs", {}))
        # unknown top-level fields are kept in metadata, not refused
        schema.pop("additionalProperties", None)
        schema["title"] = event_type
        name = model.__name__
        components[name] = schema
        refs.append({"$ref": REF.format(model=name)})
    return refs


def _one_of(refs: list[dict[str, Any]]) -> dict[str, Any]:
    if not refs:
        return {"type": "object"}
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _structured(data: dict[str, Any], types: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["specversion", "id", "source", "type"],
            "properties": {"specversion": {"const": "1.0"}, "id": {"type": "string", "minLength": 1},
                           "source": {"type": "string", "minLength": 1}, "type": {"enum": types},
                           "subject": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
                           "datacontenttype": {"type": "string"}, "correlationid": {"type": "string"},
                           "traceparent": {"type": "string"}, "data": data}}


def receive_operation(spec: FunctionSpec, components: dict[str, Any]) -> dict[str, Any]:
    consumed = sorted(spec.consumes)
    data = _one_of(_event_schemas(consumed, components))
    produced = _one_of(_event_schemas(spec.outputs, components))
    envelope = _structured(data, consumed)
    return {
        "operationId": "receive",
        "summary": "Deliver CloudEvents, as a KafkaSource does",
        "description": f"Consumes {', '.join(consumed) or 'nothing'}. Binary mode (ce-* headers, the data as "
                       "the body), structured or batch mode. Outputs are published to their topics; the reply "
                       "carries the primary output only for a person posting by hand. 4xx other than "
                       "404/408/409/429 are dead-lettered by Knative, 5xx are retried.",
        "parameters": [{"name": name, "in": "header", "required": False, "description": text,
                        "schema": {"type": "string"}} for name, text in CLOUDEVENT_HEADERS],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": data},
            "application/cloudevents+json": {"schema": envelope},
            "application/cloudevents-batch+json": {"schema": {"type": "array", "minItems": 1, "items": envelope}},
        }},
        "responses": {
            "200": {"description": "handled: the primary output event (binary mode), or a batch's outputs",
                    "content": {"application/json": {"schema": produced},
                                "application/cloudevents-batch+json": {"schema": {
                                    "type": "array", "items": _structured(produced, sorted(spec.outputs))}}}},
            "204": {"description": "handled, nothing emitted (or a duplicate of such an event)"},
            **{str(status): _error(status) for status in (400, 413, 415, 422, 503)},
        },
    }


def _param(param: Param) -> dict[str, Any]:
    schema: dict[str, Any]
    if param.kind == "integer":
        schema = {"type": "integer"}
        if param.minimum is not None:
            schema["minimum"] = param.minimum
        if param.maximum is not None:
            schema["maximum"] = param.maximum
    elif param.kind == "time":
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string", "maxLength": param.max_chars}
        if param.choices:
            schema["enum"] = list(param.choices)
    if param.default is not None:
        schema["default"] = param.default
    entry = {"name": param.name, "in": "query", "required": param.required, "schema": schema}
    if param.description:
        entry["description"] = param.description
    return entry


def _streams(route: Route) -> str | None:
    """The content type of a view annotated to return a Stream (e.g. JSON lines), else None."""
    try:
        returned = typing.get_type_hints(route.view).get("return")
    except Exception:  # unresolvable annotations: assume JSON
        return None
    if returned is Stream:
        default = Stream.__dataclass_fields__["content_type"].default
        return route.content_type or str(default)
    return None


def route_operation(route: Route) -> dict[str, Any]:
    names = _PATH_PARAM.findall(route.pattern)
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": PATH_VALUE}}
                  for name in names]
    parameters += [_param(param) for param in route.params]
    streamed = _streams(route)
    if streamed is not None:
        ok = {"description": "streamed lines", "content": {streamed: {"schema": {"type": "string"}}}}
    else:
        ok = _json(dict(route.response) if route.response is not None else {}, "the answer")
    responses: dict[str, Any] = {str(route.success): ok}
    if route.role == "admin":
        errors = {400, 401, 403, 404, 413, 422, 503, *route.errors}
    else:
        errors = {400, 401, 403, 404, 503, *route.errors}
    for status in sorted(errors - {route.success}):
        responses[str(status)] = _error(status)
    operation: dict[str, Any] = {"operationId": _operation_id(route), "parameters": parameters,
                                 "responses": responses}
    if route.summary:
        operation["summary"] = route.summary
    if route.request is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {
                                        "schema": route.request.model_json_schema(by_alias=True)}}}
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", route.pattern).strip("_") or "root"
    return f"{route.method.lower()}_{words}"


def _probes(spec: FunctionSpec) -> dict[str, Any]:
    status = {"type": "object", "required": ["status", "function"],
              "properties": {"status": {"const": "ok"}, "function": {"const": spec.name}}}
    ready = {"type": "object", "required": ["ready", "checks"],
             "properties": {"ready": {"type": "boolean"}, "checks": {"type": "object"},
                            "publisher": {"type": "string"}}}
    info = {"type": "object", "required": ["function", "consumes", "produces"],
            "properties": {"function": {"const": spec.name},
                           "consumes": {"type": "array", "items": {"type": "string"}},
                           "produces": {"type": "array", "items": {"type": "string"}}}}
    return {
        "/health": {"get": {"operationId": "health", "summary": "Liveness", "responses": {"200": _json(status, "up")}}},
        "/live": {"get": {"operationId": "live", "summary": "Liveness", "responses": {"200": _json(status, "up")}}},
        "/ready": {"get": {"operationId": "ready", "summary": "Readiness: store and publisher",
                           "responses": {"200": _json(ready, "ready"), "503": _json(ready, "not ready")}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        "/": {"get": {"operationId": "describe", "summary": "What this function consumes and produces",
                      "responses": {"200": _json(info, "the function")}}},
    }


def document(spec: FunctionSpec) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `spec`."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths = _probes(spec)
    paths["/"]["post"] = receive_operation(spec, components)
    for route in spec.routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = route_operation(route)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": f"paymesh {spec.name}", "version": _version(),
                 "description": f"The {spec.name} function: CloudEvents in at POST /, read-only query routes."},
        "paths": paths,
        "components": {"schemas": components},
    }
