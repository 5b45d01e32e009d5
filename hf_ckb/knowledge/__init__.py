"""Tests of whether a CKB holds knowledge: what its interfaces lose when its contents are taken away (issue 10), and
how a network that arrives later reaches what the store holds."""

from .knockout import KNOCKOUTS, knockout, replaced_ckb
from .newcomer import adopt_interface, copy_input_embeddings, warm_start_reader

__all__ = ["KNOCKOUTS", "adopt_interface", "copy_input_embeddings", "knockout", "replaced_ckb", "warm_start_reader"]
