"""Recipient rules per channel. A broken rule is a 422 naming `data.recipient`."""

from __future__ import annotations

import re
from collections.abc import Collection

from functions.notifications.destinations import BadDestinationError, check_url

EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
DEVICE_TOKEN = re.compile(r"^[A-Za-z0-9_:.\-]{16,4096}$")


class BadRecipientError(ValueError):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def check_recipient(channel: str, recipient: str, allow_hosts: Collection[str]) -> None:
    if channel == "email":
        if not EMAIL.match(recipient):
            raise BadRecipientError("email", "must be an email address")
    elif channel == "sms":
        if not E164.match(recipient):
            raise BadRecipientError("e164", "must be a phone number in E.164 form, e.g. +447700900123")
    elif channel == "push":
        if not DEVICE_TOKEN.match(recipient):
            raise BadRecipientError("device_token", "must be a device registration token")
    else:
        try:
            check_url(recipient, allow_hosts)
        except BadDestinationError as error:
            raise BadRecipientError(error.rule, f"webhook URL {error}") from None
