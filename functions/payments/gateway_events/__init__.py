"""The gateway events service: a gateway's webhooks in, verified, as catalog CloudEvents out (see service.py)."""
