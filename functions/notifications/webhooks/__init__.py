"""Merchant webhooks: registered endpoints, one message per event and endpoint, retried on a schedule."""
