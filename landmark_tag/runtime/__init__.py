"""Where the model runs: PyTorch eager, or OpenVINO (fp32 or int8) built from the checkpoint on first
use. Shared by the scan, `predict`, `evaluate` and the Ray actors."""
