"""Django's PostgreSQL backend with bounded waits and a circuit breaker (``ENGINE: accord.postgres``)."""
