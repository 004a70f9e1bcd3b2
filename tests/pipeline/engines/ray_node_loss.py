"""Run by test_ray_engine: a Ray-engine scan on two Ray nodes on this machine, one of them removed
while the scan runs. Prints a JSON line with what happened.

    python tests/pipeline/engines/ray_node_loss.py PHOTOS MODEL OUT
"""

import json
import logging
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from landmark_tag.pipeline.scan import ScanConfig, scan


def main() -> None:
    photos, model, out = sys.argv[1:4]
    # The head (this driver's node) keeps room for a second actor to restart on.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 3, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.ERROR)
    config = ScanConfig([photos], out, model=model, engine="ray", commit_rows=4, actors=2)
    done: dict = {}
    runner = threading.Thread(target=lambda: done.update(summary=scan(config)))
    runner.start()
    parts, removed = Path(f"{out}.parts"), False
    while runner.is_alive():
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 3:
            cluster.remove_node(worker)
            removed = runner.is_alive()
            break
        time.sleep(0.02)
    runner.join()
    summary = done["summary"]
    print(json.dumps({"removed_node_mid_scan": removed, "output_rows": summary.output_rows,
                      "failed": summary.counts["failed"]}))  # fmt: skip
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
