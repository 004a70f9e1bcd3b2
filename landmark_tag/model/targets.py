"""What `train` aims the landmark score's threshold at by default: plain numbers, with no torch, so
that the command line can show them before anything heavy is imported."""

DEFAULT_LANDMARK_RECALL = 0.95  # of the validation landmark photos, kept as landmarks
DEFAULT_FALSE_TAG_RATE = 0.01  # at most this share of the negatives pass, with --negatives
