"""The scan: discover -> exif -> decode -> batch -> predict -> write, wired together by `scan.py`."""
