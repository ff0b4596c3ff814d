"""Grants: the access a charter allows a partner's principal or role, from request to revocation."""
