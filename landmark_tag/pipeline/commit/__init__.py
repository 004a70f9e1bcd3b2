"""Commit: part files as rows are made, and the merge that publishes the new output atomically."""
