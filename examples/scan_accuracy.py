"""How often a scan's top-1 names the folder a photo sits in, for photos sorted into landmark folders.

    python examples/scan_accuracy.py TAGS.parquet MODEL.pt DATA_DIR

Reports all tagged photos, and separately the validation photos the model never trained on
(rebuilt from the split recorded in the checkpoint).
"""

import os
import sys

from landmark_tag.checkpoint import display_name, load_model
from landmark_tag.pipeline.write import read_results
from landmark_tag.training.data import index_image_folder
from landmark_tag.training.evaluate import training_split

tags_path, model_path, data_dir = sys.argv[1:4]
tags = read_results(tags_path)
tagged = tags[tags["status"] == "tagged"].copy()
tagged["folder"] = tagged["path"].map(lambda p: display_name(os.path.basename(os.path.dirname(p))))
tagged["correct"] = tagged["landmark_1"] == tagged["folder"]

spec = load_model(model_path).spec
held_out = set(
    training_split(index_image_folder(data_dir, spec.class_names), spec.metadata["train_args"], "valid").paths
)
valid = tagged[tagged["path"].isin(held_out)]
print(f"status counts: {tags['status'].value_counts().to_dict()}")
print(f"all tagged photos:      {tagged['correct'].mean():.1%} of {len(tagged)} named correctly")
print(f"held-out photos only:   {valid['correct'].mean():.1%} of {len(valid)} named correctly")
