"""Scheduled archiving: watch lists, the runner and its notifications."""
