"""`landmark-tag report`: a self-contained HTML view of a scan output (see `build.build_report`)."""
