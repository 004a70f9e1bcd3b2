"""Plan, in the scan's process: lock the output, list the photos, and decide which need the model."""
