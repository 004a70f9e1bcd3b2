"""Speed and memory harnesses (perf/) and quality studies (studies/), run from the repository root as
`python -m benchmarks.perf.NAME` or `python -m benchmarks.studies.NAME`; `common` is what they share."""
