"""How well a scan names and locates photos that are sorted into one folder per landmark.

    python examples/scan_accuracy.py TAGS.parquet MODEL.pt DATA_DIR

Reports all tagged photos, and separately the validation photos the model never trained on
(rebuilt from the split recorded in the checkpoint); then, for tagged photos with an estimated
location, how far it is from the true landmark's place in the model's gazetteer.
"""

import math
import os
import sys

from landmark_tag.files.results import read_results
from landmark_tag.model.checkpoint import load_model
from landmark_tag.training.data import index_image_folder
from landmark_tag.training.evaluate import training_split


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


tags_path, model_path, data_dir = sys.argv[1:4]
spec = load_model(model_path).spec
class_of = dict(zip(spec.display_names, spec.class_names, strict=True))
tags = read_results(tags_path)
tags["true_class"] = tags["path"].map(lambda p: os.path.basename(os.path.dirname(p)))
tags["correct"] = tags["landmark_1"].map(class_of) == tags["true_class"]
tagged = tags[tags["status"] == "tagged"]

held_out = set(
    training_split(index_image_folder(data_dir, spec.class_names), spec.metadata["train_args"], "valid").paths
)
valid = tagged[tagged["path"].isin(held_out)]
print(f"status counts: {tags['status'].value_counts().to_dict()}")
print(f"all tagged photos:      {tagged['correct'].mean():.1%} of {len(tagged)} named correctly")
print(f"held-out photos only:   {valid['correct'].mean():.1%} of {len(valid)} named correctly")

located = tagged[tagged["estimated_latitude"].notna()]
site = located["true_class"].map(spec.places)
errors = [
    distance_km(row.estimated_latitude, row.estimated_longitude, place.latitude, place.longitude)
    for row, place in zip(located.itertuples(), site, strict=True)
]
located = located.assign(error_km=errors)
right, wrong = located[located["correct"]], located[~located["correct"]]
print(
    f"with a location:        {len(located)} of {len(tagged)} tagged photos; "
    f"correctly named ones are at most {right['error_km'].max():.1f} km from the true site"
    + (f", wrongly named ones {wrong['error_km'].min():.0f} km or more" if len(wrong) else "")
)
for status in ("uncertain", "no_landmark"):
    judged = tags[tags["status"] == status]
    if len(judged):
        print(
            f"{status + ':':<24}{len(judged)} photos ({judged['correct'].mean():.1%} of them named "
            f"correctly), {judged['estimated_latitude'].notna().sum()} with a location"
        )
