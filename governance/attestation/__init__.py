"""Attestation: evidence that a partner's workload runs in a measured trusted execution environment (issue 25).
So far the foundations the verifiers will stand on: single-use nonces (nonces.py) and the claims policy grammar
(claims.py). The decision point does not read attestation yet."""
