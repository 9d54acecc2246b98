"""Integrity of the event log: canonical records in a hash chain, a Merkle tree over them,
signed checkpoints, audit bundles and the verifiers for all of them (design.md §4)."""
