"""Offline trainer for the ECG anomaly detector: data loading, training, evaluation and export.

TensorFlow's C++ start-up chatter is silenced here, before any submodule imports TensorFlow;
set TF_CPP_MIN_LOG_LEVEL yourself to see it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
