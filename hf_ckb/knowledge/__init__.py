"""Tests of whether a CKB holds knowledge: what its interfaces lose when its contents are taken away (issue 10), how a
network that arrives later reaches what the store holds, and the accounting of what is in a bundle's store and who
reads it (`inspect`, issue 12)."""

from .accounting import inspect, recording_reads
from .knockout import KNOCKOUTS, knockout, replaced_ckb
from .newcomer import adopt_interface, copy_input_embeddings, warm_start_reader

__all__ = ["KNOCKOUTS", "adopt_interface", "copy_input_embeddings", "inspect", "knockout", "recording_reads",
           "replaced_ckb", "warm_start_reader"]
