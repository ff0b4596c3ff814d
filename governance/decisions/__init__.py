"""The decision point: is this principal allowed this use of this asset now, with its limits."""
