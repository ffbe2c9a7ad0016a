"""Shared pytest set-up: quiet TensorFlow logs, fixed seeds, small thread pools."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    """Drops `tf.test.TestCase.test_session`, a deprecated helper pytest mistakes for a test."""
    items[:] = [item for item in items if item.name != "test_session"]
