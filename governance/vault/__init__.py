"""The artefact vault: files encrypted under their own keys, and their destruction by crypto-shredding.

The vault knows nothing of exits (an import-linter contract holds it): exits call the vault to destroy keys and
read the keys' state back. Its modules import their models from governance.models.vault rather than from the
package governance.models, which re-exports the exits' models too; the contract forbids reaching them through it.
"""
