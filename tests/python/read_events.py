"""Prints every TensorBoard event file under a folder as JSON, read by TensorBoard's own
event reader: {"<folder relative to the root>": {"<tag>": [[step, value], ...]}}."""
import json
import os
import sys

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util

root = sys.argv[1]
out = {}
for folder, _, files in sorted(os.walk(root)):
    for name in sorted(f for f in files if "tfevents" in f):
        tags = out.setdefault(os.path.relpath(folder, root), {})
        for event in EventFileLoader(os.path.join(folder, name)).Load():
            for v in event.summary.value:
                # The loader hands scalars over as tensors (data-compat), older writers' simple_value too.
                value = float(tensor_util.make_ndarray(v.tensor)) if v.HasField("tensor") else v.simple_value
                tags.setdefault(v.tag, []).append([event.step, value])
json.dump(out, sys.stdout)
