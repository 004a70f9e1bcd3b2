"""The scan: plan -> execute -> commit (`scan.py`), settings resolved once (`resolve.py`)."""
