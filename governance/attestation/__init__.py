"""Attestation: evidence that a partner's workload runs in a measured trusted execution environment (issue 25).
So far the foundations the decision point will stand on: single-use nonces (nonces.py), the claims policy grammar
(claims.py) and the verifiers (verifiers.py: the configuration file, Azure and Intel tokens checked against their
JWKS). The decision point does not read attestation yet."""
