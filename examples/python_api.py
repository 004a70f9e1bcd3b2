"""Everything the CLI does is a library call. Run: python examples/python_api.py PHOTO_DIR MODEL.pt"""

import sys

from landmark_tag import ScanConfig, predict_landmarks, read_results, scan

photo_dir, model = sys.argv[1], sys.argv[2]

summary = scan(ScanConfig(inputs=[photo_dir], out="tags.parquet", model=model, k=3))
print(f"{summary.photos} photos, {summary.counts}, {summary.photos_per_second:.1f} photos/s")

tags = read_results("tags.parquet")
print(tags[["path", "status", "landmark_1", "probability_1", "landmark_score", "estimated_latitude"]].head())

first_tagged = tags.loc[tags["status"] == "tagged", "path"].iloc[0]
for prediction in predict_landmarks([first_tagged], k=3, model=model):
    print(f"{prediction.status}, landmark score {prediction.landmark_score}")
    for guess in prediction.guesses:
        print(f"{guess.landmark:<30} {guess.probability:.1%}")
    if prediction.place is not None:
        print(f"taken at {prediction.place.name}: {prediction.place.latitude}, {prediction.place.longitude}")
