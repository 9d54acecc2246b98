"""Governance Ledger: an append-only, event-sourced record of how collaborations govern themselves."""
