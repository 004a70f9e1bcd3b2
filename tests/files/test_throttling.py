from types import SimpleNamespace

from landmark_tag.files.throttling import ThrottledAnswers


def answer(status, code=None):
    return SimpleNamespace(status_code=status), ({"Error": {"Code": code}} if code else {})


def test_only_answers_that_ask_to_slow_down_are_counted():
    counter = ThrottledAnswers()
    for response in (answer(200), answer(404, "NoSuchKey"), answer(500, "InternalError"), None):
        assert counter(response=response, attempts=1) is None  # it never decides a retry
    assert counter.count == 0
    counter(response=answer(503, "SlowDown"))
    counter(response=answer(503))  # a HEAD: no body to name the code
    counter(response=answer(429))
    counter(response=answer(400, "Throttling"))
    assert counter.count == 4
