"""The machine a model runs on: which device and precision (`device`), how a process that runs the
model is set up (`process`: threads, workers, batch), and glibc malloc tuning (`allocator`)."""
