"""The naive reference of the recordings benchmark: what a user would otherwise write.

A WFDB record scored by hand in one process with the libraries: `wfdb.rdrecord`, SleepECG's
`detect_heartbeats` on the first lead, each beat cut from one R peak to the next and
resampled to the model's input length with `np.interp`, z-scored, and the Keras model called with
`model.predict` (no alignment search, no signal quality, no annotation comparison).
`bench.recordings` runs it as its own process, so that its memory is read as the service's is:

    python -m bench.naive_recordings RECORD --runs 5

Prints one JSON line: the seconds of each run after one warm-up, and the beats scored.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import wfdb
from sleepecg.heartbeats import detect_heartbeats

from app.config import SHIPPED_MODEL_DIR
from app.inference.artifact import KERAS_FILE, ModelMetadata, read_metadata


def score_record(record: Path, model: keras.Model, metadata: ModelMetadata) -> np.ndarray:
    """Reconstruction error of each beat between consecutive R peaks of the record's first lead."""
    header = wfdb.rdrecord(str(record))
    signal, rate = header.p_signal[:, 0], int(header.fs)
    peaks = detect_heartbeats(signal, rate)
    length = metadata.input_length
    beats = []
    for start, end in itertools.pairwise(peaks):
        times = np.linspace(start, end, length, endpoint=False)
        beat = np.interp(times, np.arange(start, end + 1), signal[start : end + 1])
        beats.append((beat - beat.mean()) / beat.std())
    norm = metadata.normalisation
    x = ((np.array(beats) - norm.min) / (norm.max - norm.min)).astype(np.float32)
    reconstructions = model.predict(x, verbose=0)
    return np.mean(np.abs(reconstructions - x), axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.naive_recordings", description=__doc__)
    parser.add_argument("record", type=Path, help="WFDB record path without extension")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = parser.parse_args(argv)
    metadata = read_metadata(args.model_dir)
    model = keras.models.load_model(args.model_dir / KERAS_FILE)
    beats = len(score_record(args.record, model, metadata))  # warm-up
    seconds = []
    for _ in range(args.runs):
        begin = time.perf_counter()
        score_record(args.record, model, metadata)
        seconds.append(time.perf_counter() - begin)
    print(json.dumps({"seconds": seconds, "beats": beats}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
