"""Shared code of obskit's btree and query examples: a small B+tree and a tiny SQL engine.

Not part of obskit: examples of the kind of code obskit instruments.
"""
