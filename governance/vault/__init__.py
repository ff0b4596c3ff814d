"""The artefact vault: files encrypted under their own keys, and their destruction by crypto-shredding."""
