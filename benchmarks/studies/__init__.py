"""Quality studies: what the thresholds, radii and recipes were fitted on, and how."""
