"""Dispatch: the outbox, its delivery worker, signed webhooks and the Open311 client."""
