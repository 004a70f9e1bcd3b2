"""Speed and memory harnesses: each runs side by side in one process or run, and reports ratios.
`python -m benchmarks.smoke` runs every one at a tiny size."""
