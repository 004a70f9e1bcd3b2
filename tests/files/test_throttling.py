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


def test_a_forked_process_counts_only_its_own_and_a_dropped_client_takes_nothing_away():
    import gc
    import multiprocessing

    from landmark_tag.files.throttling import throttled_answers

    counter = ThrottledAnswers()
    before = throttled_answers()
    counter(response=answer(503, "SlowDown"))
    assert throttled_answers() == before + 1
    del counter
    gc.collect()  # fsspec drops its clients in a forked child
    assert throttled_answers() == before + 1

    def child(queue):
        start = throttled_answers()
        ThrottledAnswers()(response=answer(503, "SlowDown"))
        queue.put((start, throttled_answers()))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    assert queue.get(timeout=30) == (0, 1)  # not what the parent had counted
    process.join()
