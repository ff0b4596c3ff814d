"""The outbox: mail written in the transaction that decided to send it, sent by the worker after commit."""
