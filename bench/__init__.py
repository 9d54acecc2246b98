"""Benchmarks of the Governance Ledger, each against a baseline measured in the same run."""
