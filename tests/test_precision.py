"""Tests for files/support/precision.py."""

from support import precision


def test_float32_when_asked():
    assert precision.use_mixed_precision(False) == "float32"
