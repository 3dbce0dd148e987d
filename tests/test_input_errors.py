"""files/input_errors.py: the reader's mistakes are one kind of error, and each prints the
first line of its reason."""

import pytest

import input_errors


def test_a_missing_dataset_is_an_input_error():
    assert issubclass(input_errors.DataUnavailable, input_errors.InputError)
    assert not issubclass(input_errors.InputError, (OSError, ValueError))  # never a bug's kind


@pytest.mark.parametrize("error, reason", [
    (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory"),
    (ValueError("not a zip archive\nmore detail"), "not a zip archive"),
    (KeyError(), "KeyError"),
])
def test_the_reason_is_the_message_s_first_line(error, reason):
    assert input_errors.error_reason(error) == reason
