"""Attestation evidence the tests make themselves: keys, JWKS (files and a loopback server), tokens and documents
for every verifier kind, and the verifiers file that names them. (To be filled in: see the fixture below.)"""

from __future__ import annotations
