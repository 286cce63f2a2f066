from __future__ import annotations

import pytest

from functions.notifications.masking import mask


@pytest.mark.parametrize(("channel", "recipient", "masked"), [
    ("email", "john@example.com", "j***@example.com"),
    ("sms", "+44123456789", "+44******789"),
    ("push", "abcdefghijklmnopqrstuvwxyz", "abcd***wxyz"),
    ("webhook", "https://hooks.example.com/t/abc?key=secret", "https://hooks.example.com/***"),
    ("webhook", "http://127.0.0.1:8080/x", "http://127.0.0.1:8080/***"),
    ("webhook", "garbage", "***"),
])
def test_recipients_are_masked(channel: str, recipient: str, masked: str) -> None:
    assert mask(channel, recipient) == masked
