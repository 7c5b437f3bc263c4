"""Seed range of Fooocus's seed box (inclusive)."""
MIN_SEED = 0
MAX_SEED = 2**63 - 1
