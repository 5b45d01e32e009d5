"""Tests of whether a CKB holds knowledge: what its interfaces lose when its contents are taken away (issue 10), how a
network that arrives later reaches what the store holds, and the accounting of what is in a bundle's store and who
reads it (`inspect`, issue 12)."""

from .accounting import inspect, recording_reads
from .knockout import KNOCKOUTS, knockout, replaced_ckb
from .newcomer import adopt_interface, copy_input_embeddings, warm_start_reader
from .students import adapt_newcomer, export_lookup, lookup_source

__all__ = ["KNOCKOUTS", "adapt_newcomer", "adopt_interface", "copy_input_embeddings", "export_lookup", "inspect",
           "knockout", "lookup_source", "recording_reads", "replaced_ckb", "warm_start_reader"]
