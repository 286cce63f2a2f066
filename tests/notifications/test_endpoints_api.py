"""The merchant webhook admin API: registration (SSRF-guarded), listing, changes, deletion; every bad input is
a 4xx JSON body naming the field and the rule; secrets are shown only when created or rotated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.notifications.harness import MakeHarness
from tests.notifications.webhook_support import PAYMENT_FAILED, PROCESSED, REFUND_PROCESSED, register
from tests.support import reply_json

URL = "https://hooks.merchant.example/paymesh"
# hooks.merchant.example does not resolve here: allow-listed, it is not resolved at registration
HOSTS = {"notifications_webhook_allow_hosts": "127.0.0.1,hooks.merchant.example"}


def problem(response: Any) -> tuple[int, str, str]:
    body = reply_json(response)
    return response.status_code, body["field"], body["rule"]


def test_register_shows_the_secret_once(make_harness: MakeHarness) -> None:
    app = make_harness()
    created = register(app, "http://127.0.0.1:9/h", description="orders", contactEmail="ops@shop.example",
                       rateLimitPerSecond=5)
    assert created["id"].startswith("ep_") and created["secret"].startswith("whsec_")
    assert created["status"] == "enabled" and created["eventTypes"] == [PROCESSED, PAYMENT_FAILED]
    shown = reply_json(app.client.get(f"/endpoints/{created['id']}"))
    assert "secret" not in shown and shown["rateLimitPerSecond"] == 5 and shown["contactEmail"] == "ops@shop.example"
    listed = reply_json(app.client.get("/endpoints?merchantId=mer_1"))["endpoints"]
    assert [item["id"] for item in listed] == [created["id"]] and "secret" not in listed[0]
    assert reply_json(app.client.get("/endpoints?merchantId=mer_other"))["endpoints"] == []


@pytest.mark.parametrize(("url", "rule"), [
    ("http://10.0.0.7/hook", "https"),
    ("https://10.0.0.7/hook", "public_address"),
    ("https://169.254.169.254/latest/meta-data", "public_address"),
    ("https://[::1]/hook", "public_address"),
    ("https://user:pw@hooks.merchant.example/h", "url"),
    ("ftp://hooks.merchant.example/h", "url"),
    ("https://hooks.paymesh.invalid/h", "resolvable"),  # RFC 6761: .invalid never resolves
])
def test_ssrf_guard_refuses_at_registration(make_harness: MakeHarness, url: str, rule: str) -> None:
    app = make_harness()
    response = app.client.post("/endpoints", json={"merchantId": "mer_1", "url": url, "eventTypes": [PROCESSED]})
    assert problem(response) == (422, "body.url", rule)
    assert reply_json(app.client.get("/endpoints?merchantId=mer_1"))["endpoints"] == []


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"url": URL, "eventTypes": [PROCESSED]}, "body.merchantId", "missing"),
    ({"merchantId": "mer_1", "url": URL, "eventTypes": []}, "body.eventTypes", "too_short"),
    ({"merchantId": "mer_1", "url": URL, "eventTypes": ["ledger.balance-updated"]}, "body.eventTypes", "value_error"),
    ({"merchantId": "mer_1", "url": URL, "eventTypes": [PROCESSED], "rateLimitPerSecond": 0},
     "body.rateLimitPerSecond", "greater_than_equal"),
    ({"merchantId": "mer_1", "url": URL, "eventTypes": [PROCESSED], "contactEmail": "nobody"},
     "body.contactEmail", "value_error"),
    ({"merchantId": "mer_1", "url": URL, "eventTypes": [PROCESSED], "colour": "red"}, "body.colour",
     "extra_forbidden"),
])
def test_bad_registrations_name_the_field_and_rule(make_harness: MakeHarness, body: dict[str, Any], field: str,
                                                   rule: str) -> None:
    app = make_harness()
    assert problem(app.client.post("/endpoints", json=body)) == (422, field, rule)


def test_malformed_and_oversized_bodies_are_4xx(make_harness: MakeHarness) -> None:
    app = make_harness(**{"PAYMESH_BODY_BYTES_MAX": 2048})
    bad_json = app.client.post("/endpoints", data=b"{not json", headers={"Content-Type": "application/json"})
    assert problem(bad_json) == (400, "body", "json")
    assert problem(app.client.post("/endpoints", json=["a"])) == (400, "body", "json_object")
    assert problem(app.client.post("/endpoints", data=b"")) == (400, "body", "json_object")
    huge = app.client.post("/endpoints", json={"merchantId": "mer_1", "url": URL, "description": "x" * 4000,
                                               "eventTypes": [PROCESSED]})
    assert problem(huge) == (413, "body", "max_bytes")
    assert app.client.put("/endpoints").status_code == 404


def test_queries_are_checked(make_harness: MakeHarness) -> None:
    app = make_harness(**HOSTS)
    assert problem(app.client.get("/endpoints")) == (400, "merchantId", "required")
    created = register(app, URL)
    assert problem(app.client.get(f"/endpoints/{created['id']}/messages?status=lost")) == (400, "status", "one_of")
    assert problem(app.client.post(f"/endpoints/{created['id']}/recover")) == (400, "since", "required")
    assert problem(app.client.post(f"/endpoints/{created['id']}/recover?since=yesterday")) == \
        (400, "since", "datetime")


def test_change_and_delete(make_harness: MakeHarness) -> None:
    app = make_harness(**HOSTS)
    created = register(app, URL)
    changed = app.client.patch(f"/endpoints/{created['id']}", json={"eventTypes": [REFUND_PROCESSED],
                                                                     "description": "refunds"})
    assert changed.status_code == 200, changed.data
    assert reply_json(changed)["eventTypes"] == [REFUND_PROCESSED]
    assert reply_json(changed)["url"] == URL
    assert problem(app.client.patch(f"/endpoints/{created['id']}", json={"url": "https://10.1.1.1/x"})) == \
        (422, "body.url", "public_address")
    assert problem(app.client.patch(f"/endpoints/{created['id']}", json={"url": None})) == \
        (422, "body.url", "required")
    assert app.client.delete(f"/endpoints/{created['id']}").status_code == 200
    assert app.client.get(f"/endpoints/{created['id']}").status_code == 404
    assert app.client.delete(f"/endpoints/{created['id']}").status_code == 404
    assert app.client.post("/messages/msg_nothing/replay").status_code == 404
    assert app.client.get("/messages/msg_nothing/attempts").status_code == 404


def test_admin_routes_are_marked_for_the_admin_role() -> None:
    from functions.notifications.app import build_spec
    from functions.notifications.settings import NotificationsSettings

    spec = build_spec(NotificationsSettings())
    roles = {(route.method, route.pattern): route.role for route in spec.routes}
    assert roles[("POST", "/endpoints")] == "admin"
    assert roles[("DELETE", "/endpoints/{endpoint_id}")] == "admin"
    assert roles[("POST", "/messages/{message_id}/replay")] == "admin"
    assert roles[("GET", "/endpoints")] == "reader"
    assert all(role == "admin" for (method, _), role in roles.items() if method != "GET")
