"""Anomaly checks: a charter's misuse rules read against the trail; a broken rule suspends the grant."""
