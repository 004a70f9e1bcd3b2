"""Training: data, models, the loop and evaluation."""
