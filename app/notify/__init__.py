"""Notifications to customers: a durable outbox (``notifications`` table), a sender that
claims due rows and retries with backoff, and adapters (WeChat subscribe message, signed
webhook, log). Queue commands never wait for any of it: rows are written by the transaction
that causes them, or by a watcher after the queue event is committed.
"""
