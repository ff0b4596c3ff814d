"""Exits: the end of a collaboration, from termination to the certificates of destruction."""
