import pytest

from core.errors import InvalidRequestError
from core.text.base import GenerationParams, Request, StopScanner


def feed_all(stops, pieces):
    scanner = StopScanner(stops)
    out = [scanner.feed(p) for p in pieces]
    return "".join(out) + scanner.flush(), scanner.stopped, out


def test_stop_split_across_pieces_is_never_emitted():
    text, stopped, out = feed_all(["###"], ["Hello #", "#", "# world"])
    assert text == "Hello "
    assert stopped
    assert out[0] == "Hello "  # the "#" that might start a stop is held back


def test_partial_match_that_is_not_a_stop_is_released():
    text, stopped, _ = feed_all(["###"], ["a #", "b", " c"])
    assert text == "a #b c"
    assert not stopped


def test_earliest_of_several_stops_wins():
    text, _, _ = feed_all(["END", "\n\n"], ["one\n\ntwo END"])
    assert text == "one"


def test_no_stops_passes_everything_through():
    text, stopped, out = feed_all([], ["a", "b"])
    assert out == ["a", "b"] and text == "ab" and not stopped


@pytest.mark.parametrize(
    "kwargs",
    [{"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}],
)
def test_bad_params_are_rejected(kwargs):
    with pytest.raises(InvalidRequestError):
        GenerationParams(**kwargs)


def test_request_needs_exactly_one_input_and_valid_messages():
    with pytest.raises(InvalidRequestError):
        Request()
    with pytest.raises(InvalidRequestError):
        Request(messages=[{"role": "user", "content": "x"}], prompt="y")
    with pytest.raises(InvalidRequestError, match="message 0"):
        Request(messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(InvalidRequestError):
        Request(messages=[])
