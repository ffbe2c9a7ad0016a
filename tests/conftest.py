"""Shared pytest set-up: quiet TensorFlow logs; the helper modules of tests/ importable from every folder."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# fake_cifar.py, fake_ptb.py, fake_images.py and runs.py are imported by tests in every sub-folder.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(config, items):
    """Drops `tf.test.TestCase.test_session`, a deprecated helper pytest mistakes for a test."""
    items[:] = [item for item in items if item.name != "test_session"]
