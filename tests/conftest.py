"""Shared pytest set-up: quiet TensorFlow logs, fixed seeds, small thread pools."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
