"""The QRS detectors a recording could be segmented with, on MIT-BIH record 100 against its
cardiologists' annotations: beat detection sensitivity and positive predictivity (150 ms, wfdb's
comparator) and seconds, for both leads at 100 Hz to 2 kHz and either polarity.

    python -m bench.detectors [--data-dir ../shared/data/mitdb] [--record 100]

SleepECG (the service's) and wfdb's XQRS always; NeuroKit2's default detector too where
`neurokit2` is installed (`pip install neurokit2`; the service does not need it).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import wfdb
from scipy.signal import resample_poly
from sleepecg.heartbeats import detect_heartbeats
from wfdb import processing

from bench.run import REPO_ROOT

Detector = Callable[[np.ndarray, int], np.ndarray]
RATES = (100, 250, 360, 1000, 2000)
BEAT_SYMBOLS = set("NLRejAaJSVEF/fQ")


def sleepecg_peaks(signal: np.ndarray, rate: int) -> np.ndarray:
    return np.asarray(detect_heartbeats(signal, rate), dtype=np.int64)


def xqrs_peaks(signal: np.ndarray, rate: int) -> np.ndarray:
    return np.asarray(processing.xqrs_detect(signal, rate, verbose=False), dtype=np.int64)


def neurokit_peaks(signal: np.ndarray, rate: int) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(nk.ecg_clean(signal, sampling_rate=rate), sampling_rate=rate)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def detection_scores(reference: np.ndarray, peaks: np.ndarray, rate: int) -> tuple[float, float]:
    """Sensitivity and positive predictivity within 150 ms (0 and NaN when nothing was found)."""
    if len(peaks) == 0:
        return 0.0, float("nan")
    compared = processing.compare_annotations(reference, peaks, round(0.15 * rate))
    return compared.sensitivity, compared.positive_predictivity


def detectors() -> dict[str, Detector]:
    found: dict[str, Detector] = {"sleepecg": sleepecg_peaks, "wfdb xqrs": xqrs_peaks}
    if importlib.util.find_spec("neurokit2") is not None:
        found["neurokit2"] = neurokit_peaks
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.detectors", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "../shared/data/mitdb")
    parser.add_argument("--record", default="100")
    args = parser.parse_args(argv)
    base = str(args.data_dir / args.record)
    record, annotation = wfdb.rdrecord(base), wfdb.rdann(base, "atr")
    beats = np.array([s for s, sym in zip(annotation.sample, annotation.symbol, strict=True)
                      if sym in BEAT_SYMBOLS])  # fmt: skip
    print("| detector | lead | Hz | polarity | sensitivity | positive predictivity | s |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    totals: dict[str, list[float]] = {}
    for name, detect in detectors().items():
        for lead, lead_name in enumerate(record.sig_name):
            for rate in RATES:
                signal = resample_poly(record.p_signal[:, lead], rate, int(record.fs))
                reference = np.round(beats * rate / record.fs).astype(int)
                for sign, polarity in ((1, "upright"), (-1, "inverted")):
                    started = time.perf_counter()
                    peaks = detect(sign * signal, rate)
                    seconds = time.perf_counter() - started
                    sens, ppv = detection_scores(reference, peaks, rate)
                    totals.setdefault(name, []).append(seconds)
                    print(f"| {name} | {lead_name} | {rate} | {polarity} | {sens:.4f} | "
                          f"{ppv:.4f} | {seconds:.2f} |")  # fmt: skip
    for name, seconds in totals.items():
        print(f"{name}: {sum(seconds):.1f} s in all, {len(seconds)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
