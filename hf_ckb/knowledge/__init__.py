"""Tests of whether a CKB holds knowledge: what its interfaces lose when its contents are taken away (issue 10)."""

from .knockout import KNOCKOUTS, knockout, replaced_ckb

__all__ = ["KNOCKOUTS", "knockout", "replaced_ckb"]
