"""Cleaning: site rules, pruning, extraction, documents (PDF, text), normalising and error stubs: a page in, a Snapshot out."""
