"""landmark-tag: find where photos without GPS were taken by recognising the landmark in them."""

__version__ = "0.1.0"
