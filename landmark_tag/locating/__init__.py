"""Where photos were taken, from what they and their owner's tracks say: GPS tracks read (`tracks`),
places at times (`fixes`), clocks tied to each other (`clocks`), and one location per photo from the
best source (`locate`). Pure table operations and file reading: it knows nothing of the pipeline
that calls it (the commit, on both engines)."""
