"""Writes for the registry and charters: each validates, saves and records its audit event in one transaction."""

from charters.services.assets import asset_register, asset_version_register
from charters.services.charters import (
    charter_acknowledge,
    charter_amend,
    charter_apply,
    charter_expire,
    charter_plan,
    charter_resume,
    charter_suspend,
    charter_terminate,
    charter_version_approve,
    charter_version_return,
    charter_version_submit,
)

__all__ = [
    "asset_register",
    "asset_version_register",
    "charter_acknowledge",
    "charter_amend",
    "charter_apply",
    "charter_expire",
    "charter_plan",
    "charter_resume",
    "charter_suspend",
    "charter_terminate",
    "charter_version_approve",
    "charter_version_return",
    "charter_version_submit",
]
