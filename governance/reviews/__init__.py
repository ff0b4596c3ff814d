"""Access reviews: every grant of a charter kept or revoked by an officer, on a cadence."""
