"""How the client turns ``log().append`` calls into text/plain batches (no server needed)."""

from __future__ import annotations

from molexp import _events, _run
from molexp._events import _log_chunks, _log_text
from molexp._run import Run


def _run_offline(tmp_path, monkeypatch) -> Run:
    monkeypatch.setenv("MOLEXP_OFFLINE_DIR", str(tmp_path))
    return Run(http=None, experiment="w/p/e", offline=True, script=__file__)


def test_append_keeps_the_promised_lines(tmp_path, monkeypatch):
    run = _run_offline(tmp_path, monkeypatch)
    log = run.log("train")
    log.append("plain")
    log.append("two\nlines\n\n")  # trailing newlines dropped, an inner one splits
    log.append({"epoch": 1})  # str() of it when the sender takes it
    run.log("train").extend(["x", 5])  # the same writer (and queue) per name
    assert run.log("train") is log
    log.append("")
    events = run._take()
    assert [e["name"] for e in events] == ["train"]
    assert events[0]["data"].decode() == "plain\ntwo\nlines\n{'epoch': 1}\nx\n5\n\n"
    assert _events._event_lines(events[0]) == 7
    assert run._take() == []


def test_fast_path_and_fallback_agree():
    lines = [f"step {i}" for i in range(1000)]
    assert _log_text(lines) == "".join(f"{line}\n" for line in lines)
    assert _log_text(["a\n", "b"]) == "a\nb\n"
    assert _log_text(["a", 1, "b\nc"]) == "a\n1\nb\nc\n"


def test_chunks_cut_at_line_ends_within_the_limits():
    data = _log_text(["a" * 10, "b", "c", "d", "é" * 7]).encode()
    for limit in (3, 8, 12, 30, 1000):
        for max_lines in (1, 2, 100):
            chunks = _log_chunks(data, limit, max_lines)
            assert all(c.endswith(b"\n") and len(c) <= limit and c.count(b"\n") <= max_lines for c in chunks)
            assert all(c.decode("utf-8") for c in chunks)  # whole characters
            if limit >= 15:
                assert b"".join(chunks) == data
    # a line longer than a request keeps its head; the next lines follow
    assert _log_chunks(b"0123456789\nab\n", 5, 10) == [b"0123\n", b"ab\n"]


def test_offline_spool_keeps_the_text(tmp_path, monkeypatch):
    run = _run_offline(tmp_path, monkeypatch)
    run.__enter__()
    run.log("train").append("épreuve")
    run.finish()
    events = (run.spool / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"text": "\\u00e9preuve\\n"' in events[0]


def test_a_cancelled_run_refuses_further_lines(tmp_path, monkeypatch):
    import pytest

    run = _run_offline(tmp_path, monkeypatch)
    log = run.log("train")
    log.append("before")
    run._cancel_seen()
    for write in (lambda: log.append("after"), lambda: log.extend(["after"]), lambda: run.log("other").append("x")):
        with pytest.raises(_run.RunCancelled):
            write()
    assert run._take()[0]["data"] == b"before\n"


def test_an_unprintable_object_does_not_stop_the_sender():
    class Bad:
        def __str__(self):
            raise ValueError("no")

    assert _log_text(["ok", Bad()]) == "ok\n<unprintable Bad: ValueError>\n"


def test_lines_taken_early_are_sent_together_in_order(tmp_path, monkeypatch):
    """The sender takes a fast loop's lines in pieces (``_stage_logs``) and sends them joined: in
    order, at most MAX_LOG_BATCH_BYTES / MAX_LINES_PER_REQUEST per request, each line once."""
    monkeypatch.setattr(_run, "MAX_LOG_BATCH_BYTES", 64)
    monkeypatch.setattr(_run, "MAX_LINES_PER_REQUEST", 5)
    run = _run_offline(tmp_path, monkeypatch)
    log, other = run.log("train"), run.log("other")
    expected = []
    for piece in range(6):
        for i in range(3):
            log.append(f"p{piece} l{i}")
            expected.append(f"p{piece} l{i}")
        other.append(f"o{piece}")
        run._stage_logs()
    log.append("x" * 100)  # one line longer than a request: its head, alone
    log.append("last")
    events = run._take()
    train = [e for e in events if e["name"] == "train"]
    assert all(len(e["data"]) <= 64 and e["lines"] <= 5 for e in events)
    assert all(e["lines"] == e["data"].count(b"\n") for e in events)
    text = b"".join(e["data"] for e in train).decode()
    assert text == "".join(f"{line}\n" for line in expected) + "x" * 63 + "\n" + "last\n"
    assert b"".join(e["data"] for e in events if e["name"] == "other") == b"o0\no1\no2\no3\no4\no5\n"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert run._take() == [] and run._staged_bytes == 0
