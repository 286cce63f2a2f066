"""SSRF guard: every address a webhook host stands for is checked, IPv4 inside IPv6 included, and the
request goes to the address that was checked (no second DNS answer between check and connect)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
import pytest

from functions.notifications.channels import Delivered, Message, Undelivered
from functions.notifications.channels.webhook import WebhookChannel
from functions.notifications.destinations import embedded_ipv4, is_public
from tests.notifications.harness import SECRET, MakeHarness
from tests.support import reply_json

PRIVATE_IPV4_INSIDE_IPV6 = [
    "::ffff:127.0.0.1",                          # mapped
    "::7f00:1", "::a00:1", "::a9fe:a9fe",         # compatible: 127.0.0.1, 10.0.0.1, 169.254.169.254
    "64:ff9b::7f00:1", "64:ff9b::c0a8:101",      # NAT64 well-known prefix: 127.0.0.1, 192.168.1.1
    "64:ff9b:1::808:808",                        # NAT64 local-use prefix: never public
    "2002:7f00:1::", "2002:a9fe:a9fe::1",        # 6to4 of 127.0.0.1 and 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",      # Teredo
    "2001:0:7f00:1::",                           # Teredo with a loopback server
]


@pytest.mark.parametrize("text", PRIVATE_IPV4_INSIDE_IPV6)
def test_ipv4_embedded_in_ipv6_is_checked(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_stay_public(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))


def test_embedded_addresses_are_read_from_every_form() -> None:
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::")) == [ipaddress.IPv4Address("127.0.0.1")]
    assert ipaddress.IPv4Address("127.0.0.1") in embedded_ipv4(ipaddress.IPv6Address("64:ff9b::7f00:1"))


def webhook(notification_id: str, url: str) -> dict[str, object]:
    return {"notificationId": notification_id, "channel": "webhook", "recipient": url, "body": "hi"}


@pytest.mark.parametrize("address", PRIVATE_IPV4_INSIDE_IPV6)
def test_a_literal_embedded_private_address_is_refused(make_harness: MakeHarness, address: str) -> None:
    app = make_harness(notifications_webhook_allow_hosts="")
    response = app.request(webhook("ntf_embedded", f"https://[{address}]/hook"))
    assert response.status_code == 422, response.data
    assert (reply_json(response)["field"], reply_json(response)["rule"]) == ("data.recipient", "public_address")
    assert app.publisher.events == []


class Resolver:
    """DNS for names that cannot be resolved here: answers from a script (a stand-in for a real resolver)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port) if ":" not in a else (a, port, 0, 0)) for a in answer]


def message(url: str) -> Message:
    return Message(notification_id="ntf_1", channel="webhook", recipient=url, text="hi")


@pytest.mark.parametrize("answer", [["93.184.216.34", "64:ff9b::7f00:1"], ["2002:a9fe:a9fe::1"], ["::7f00:1"]])
def test_any_private_answer_blocks_the_host(monkeypatch: pytest.MonkeyPatch, answer: list[str]) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(answer))
    channel = WebhookChannel(SECRET, frozenset(), 2.0)
    outcome = channel.send(message("https://hooks.example.com/h"))
    assert isinstance(outcome, Undelivered) and outcome.reason == "blocked_destination"


def test_the_request_goes_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebinding resolver answers public first, loopback after: the request must use the first answer,
    by address, with the name in the Host header and TLS SNI. The transport records instead of connecting,
    since no public address may be reached from here."""
    resolver = Resolver(["93.184.216.34"], ["127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(SECRET, frozenset(), 2.0)
    channel._client = httpx.Client(transport=httpx.MockTransport(record))
    outcome = channel.send(message("https://hooks.example.com:8443/h?x=1"))
    assert isinstance(outcome, Delivered)
    [request] = seen
    assert (request.url.host, request.url.port, request.url.path) == ("93.184.216.34", 8443, "/h")
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert resolver.calls == 1
