"""Batch scoring of files: leads and events in, scorecards out."""
