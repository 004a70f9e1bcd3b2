from types import SimpleNamespace

from landmark_tag.files.throttling import count_throttled_answer, throttled_answers


def answer(status, code=None):
    return SimpleNamespace(status_code=status), ({"Error": {"Code": code}} if code else {})


def test_only_answers_that_ask_to_slow_down_are_counted():
    before = throttled_answers()
    for response in (answer(200), answer(404, "NoSuchKey"), answer(500, "InternalError"), None):
        assert count_throttled_answer(response=response, attempts=1) is None  # it never decides a retry
    assert throttled_answers() == before
    count_throttled_answer(response=answer(503, "SlowDown"))
    count_throttled_answer(response=answer(503))  # a HEAD: no body to name the code
    count_throttled_answer(response=answer(429))
    count_throttled_answer(response=answer(400, "Throttling"))
    assert throttled_answers() == before + 4


def test_a_forked_process_counts_only_its_own():
    import multiprocessing

    count_throttled_answer(response=answer(503, "SlowDown"))

    def child(queue):
        start = throttled_answers()
        count_throttled_answer(response=answer(503, "SlowDown"))
        queue.put((start, throttled_answers()))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    assert queue.get(timeout=30) == (0, 1)  # not what the parent had counted
    process.join()
