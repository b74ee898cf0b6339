"""The public Space's HTTP door (convlstm/showcase/guard.py and the launch settings), attacked through the live app
as a stranger would: raw HTTP and gradio_client on loopback, each test speaking for its own client addresses
through X-Forwarded-For (tests/conftest.py puts the app behind one proxy hop, as on a Space). Every hole found in
the attack on 2026-12-01 is here, bounded in count, time and memory."""
import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import app
from convlstm.showcase import guard, pipeline
from convlstm.showcase.probe import cancel, decoders, file_data, fn_index, heavy_frames, join, outcome, upload
from convlstm.upload import clips, sandbox
from convlstm.upload.limits import MAX_DECODERS, MAX_FILES, MAX_SECONDS
from convlstm.checkpoint import DEFAULT_MODEL as MODEL  # the last value of every prediction call


def rss() -> int:
    return sandbox.proc_bytes("VmRSS")


def test_a_big_request_body_is_refused_before_anything_reads_it(server):
    """Hole 1: a 150 MB seed string was kept per session. Now bodies over BODY_BYTES are refused at the door."""
    before = rss()
    seed = "7" * (8 * 2**20)
    r = httpx.post(server + "gradio_api/queue/join", json={"data": [seed, 2, 0.1, 5, MODEL], "fn_index": 0,
                                                           "session_hash": "big"}, timeout=30)
    assert r.status_code == 413 and "at most 256 KB" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(64):
            yield b"x" * 2**16
    r = httpx.post(server + "gradio_api/queue/join", content=chunks(), timeout=30)
    assert r.status_code == 413
    r = httpx.post(server + "gradio_api/upload", content=b"x" * (guard.UPLOAD_BYTES + 1),
                   headers={"content-type": "multipart/form-data; boundary=x"}, timeout=30)
    assert r.status_code == 413 and "the files of one upload" in r.json()["detail"]
    assert rss() - before < 120 * 2**20  # the bodies were never held (the test's own strings are ~60 MB)


def test_the_upload_route_takes_one_requests_files_at_most(server):
    """Gradio's upload route takes 1,000 files in one call; the door holds it to the request limit of MAX_FILES."""
    tiny = [(f"t{i}.png", b"x%d" % i) for i in range(MAX_FILES + 1)]
    r = upload(server, tiny, "10.0.2.1")
    assert r.status_code == 413 and f"more than {MAX_FILES} files" in r.json()["detail"]
    assert upload(server, tiny[:MAX_FILES], "10.0.2.1").status_code == 200


def raw(server: str, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are (what httpx would never send) and read the answer's status line."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(server)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall(head + b"\r\n\r\n" + body)
        return conn.recv(65536).split(b"\r\n", 1)[0]


def test_lengths_that_lie_are_refused_or_charged_as_the_whole_cap(server):
    """A red-team find: Content-Length: 0 beside a chunked body was charged 0 bytes of the upload allowance."""
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (5, b"hello")
    both = (b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 0\r\nTransfer-Encoding: chunked")
    assert b" 400 " in raw(server, both, chunk)
    twice = b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 2"
    assert b" 400 " in raw(server, twice, b"{}")
    used = server_disk().sent.get("127.0.0.1")
    before = sum(n for _, n in used) if used else 0
    upload_chunked = (b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Transfer-Encoding: chunked")
    raw(server, upload_chunked, b"0\r\n\r\n")
    assert sum(n for _, n in server_disk().sent["127.0.0.1"]) - before == guard.UPLOAD_BYTES  # charged the whole cap


def server_disk() -> guard.Disk:
    """The live door's own disk books (the middleware instance Starlette built for the running app)."""
    layer = app.demo.server_app.middleware_stack
    while not isinstance(layer, guard.Guard):
        layer = layer.app
    return layer.disk


@pytest.mark.parametrize("kind", [b"multipart/form-data; BOUNDARY=B1", b"multipart/form-data; boundary = B1",
                                  b"multipart/form-data; boundary=zzz; boundary=B1"])
def test_the_file_count_reads_the_boundary_as_the_parser_does(server, kind):
    parts = b"".join(b"--B1\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f%d.png\"\r\n\r\nx\r\n" % i
                     for i in range(MAX_FILES + 1)) + b"--B1--\r\n"
    r = httpx.post(server + "gradio_api/upload", content=parts, headers={"content-type": kind.decode(),
                                                                         "X-Forwarded-For": "10.0.3.1"})
    assert r.status_code == 413 and f"more than {MAX_FILES} files" in r.text


def test_only_the_routes_the_app_uses_are_served(server):
    """Gradio's other POST routes (process_recording re-encodes video outside every limit) answer 404."""
    for route in ["gradio_api/process_recording", "gradio_api/component_server", "gradio_api/call/v2/sample",
                  "gradio_api/stream/abc", "gradio_api/call/nope", "gradio_api/vibe-edit"]:
        r = httpx.post(server + route, json={"data": [0, 2, 0.1, 5, MODEL]}, headers={"X-Forwarded-For": "10.0.4.1"})
        assert r.status_code == 404, (route, r.status_code, r.text)
    r = httpx.post(server + "gradio_api/call/sample", json={"data": ["1e400", 2, 0.1, 5, MODEL]}, headers={"X-Forwarded-For": "10.0.4.1"})
    assert r.status_code == 422 and "seed" in r.text  # /call/<name> is served, and checked like the queue


def test_a_client_chosen_address_is_believed_only_behind_the_proxy(monkeypatch):
    scope = {"client": ("203.0.113.7", 5000), "headers": [(b"x-forwarded-for", b"1.2.3.4, 198.51.100.9")]}
    monkeypatch.setattr(guard, "PROXY_HOPS", 0)
    assert guard._client(scope) == "203.0.113.7"  # no proxy: the peer, whatever the header says
    monkeypatch.setattr(guard, "PROXY_HOPS", 1)
    assert guard._client(scope) == "198.51.100.9"  # the entry the proxy appended, not the client's own
    assert guard._client({"client": ("2001:db8::1", 1), "headers": []}) == \
        guard._client({"client": ("2001:db8::ffff", 1), "headers": []}) == "2001:db8::/64"
    assert os.environ.get("FORWARDED_ALLOW_IPS") == ""  # launch() told uvicorn to believe no forwarding header


def test_session_state_is_bounded(server):
    """Gradio kept up to 10,000 sessions' inputs and outputs; now SESSIONS, the oldest dropped."""
    files = fn_index(server, "files")
    for i in range(pipeline.SESSIONS + 40):
        assert join(server, files, ["no-such-result"], f"10.1.{i // 10}.{i % 10}").status_code == 200
    deadline = time.monotonic() + 60
    while app.demo._queue.pending_event_ids_session and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(app.demo.state_holder.session_data) <= pipeline.SESSIONS


@pytest.mark.slow
def test_cancelled_jobs_never_leave_more_decoders_than_the_sandbox_allows(server):
    """Hole 2: 12 jobs cancelled 0.3 s after joining gave 12 live decoders. Now at most MAX_DECODERS, and a
    cancelled job's worker dies at once."""
    paths = upload(server, heavy_frames(), "10.2.0.1").json()
    predict = fn_index(server, "predict_file")
    peak, done = [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], decoders())
            time.sleep(0.02)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(12):
            session = uuid.uuid4().hex
            r = join(server, predict, [file_data(paths), 10, 0, True, MODEL], f"10.2.1.{i}", session)
            assert r.status_code == 200, r.text
            time.sleep(0.3)
            cancel(server, predict, session, r.json()["event_id"])
        deadline = time.monotonic() + 2 * MAX_SECONDS
        while decoders() > 1 and time.monotonic() < deadline:  # the spare may stay
            time.sleep(0.05)
    finally:
        done.set()
        watcher.join()
    assert peak[0] <= MAX_DECODERS, peak[0]
    assert decoders() <= 1 and sandbox.live(clips.WORKER) <= 1
    session = uuid.uuid4().hex
    assert join(server, predict, [file_data(paths), 10, 0, True, MODEL], "10.2.2.1", session).status_code == 200
    assert outcome(server, session)["success"]  # the same clip, not cancelled, is decoded and predicted


def test_a_refused_request_never_deletes_a_file_someone_else_can_see(server):
    """Hole 3: 65 references to a gallery thumbnail's cached path deleted it for everyone. Now refused, deleting nothing."""
    thumbnail = app.examples.value[0]["image"]["path"]
    predict = fn_index(server, "predict_file")
    r = join(server, predict, [file_data([thumbnail] * (MAX_FILES + 1)), 10, 0, True, MODEL], "10.3.0.1")
    assert r.status_code == 422 and f"at most {MAX_FILES}" in r.text
    other = upload(server, [("theirs.png", Path(thumbnail).read_bytes())], "10.3.0.2").json()[0]
    big = [upload(server, [(f"big{i}.npy", os.urandom(clips.MAX_BYTES))], "10.3.0.3").json()[0] for i in range(2)]
    session = uuid.uuid4().hex
    assert join(server, predict, [file_data([other, *big]), 10, 0, True, MODEL], "10.3.0.3", session).status_code == 200
    got = outcome(server, session)
    assert "MB in one request" in got["output"]["error"], got
    assert Path(thumbnail).is_file() and Path(other).is_file()
    assert httpx.get(server + f"gradio_api/file={thumbnail}").status_code == 200


@pytest.mark.slow
def test_uploads_are_held_to_a_quota_per_client_and_in_all(server, monkeypatch):
    """Hole 4: one POST to /gradio_api/upload parked 1.95 GB. Now one request's worth per call, CLIENT_UPLOAD_BYTES
    per address per WINDOW_S, and DISK_QUOTA in all, the oldest unprotected entries pruned."""
    sent, refusal = 0, None
    for i in range(guard.CLIENT_UPLOAD_BYTES // clips.MAX_BYTES + 2):
        r = upload(server, [(f"u{i}.npy", os.urandom(clips.MAX_BYTES))], "10.4.0.1")
        if r.status_code != 200:
            refusal = r
            break
        sent += clips.MAX_BYTES
    assert refusal is not None and refusal.status_code == 507 and "try again later" in refusal.json()["detail"]
    assert sent <= guard.CLIENT_UPLOAD_BYTES
    # the quota in all, made small for the test: what is there now plus three uploads
    uploads = Path(app.get_upload_folder())
    door = guard.Disk(uploads, app.WORK, set())
    door.measure(time.monotonic())
    monkeypatch.setattr(guard, "DISK_QUOTA", door.used + 3 * clips.MAX_BYTES)
    monkeypatch.setattr(guard, "YOUNG_S", 0)
    monkeypatch.setattr(guard, "SCAN_S", 0)  # measured at every upload (else every 10 s)
    thumbnails = [item["image"]["path"] for item in app.examples.value]
    for i in range(6):
        assert upload(server, [(f"q{i}.npy", os.urandom(clips.MAX_BYTES))], f"10.4.1.{i}").status_code == 200
    door.measure(time.monotonic())
    assert door.used <= guard.DISK_QUOTA
    assert all(Path(p).is_file() for p in thumbnails)  # protected: pruning never takes the gallery


def fill_jpeg(megabytes: float) -> bytes:
    """A small real JPEG with `megabytes` of 0xFF fill bytes before its first marker after SOI (legal, and slow to walk)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return data[:2] + b"\xff" * int(megabytes * 2**20) + data[2:]


def test_repeated_references_are_checked_and_decoded_once_inside_the_clock(server):
    """Hole 5: 63 references to one 200 KB JPEG of fill bytes held a request 13.6 s, outside the decode budget (200 KB
    of fill is now refused as over MAX_BLOCKS; 100 KB passes, and is walked once)."""
    path = upload(server, [("fill.jpg", fill_jpeg(0.1))], "10.5.0.1").json()[0]  # 100 K fill bytes: under MAX_BLOCKS
    predict = fn_index(server, "predict_file")
    session, tic = uuid.uuid4().hex, time.monotonic()
    assert join(server, predict, [file_data([path] * 63), 10, 0, True, MODEL], "10.5.0.1", session).status_code == 200
    message = outcome(server, session)
    assert time.monotonic() - tic < MAX_SECONDS
    assert message["success"] and "63 image files" in message["output"]["data"][1]


@pytest.mark.slow
def test_one_address_cannot_fill_the_queue(server):
    """Hole 6: 18 concurrent hostile jobs filled the queue for everyone for 92 s. Now JOBS_PER_ADDRESS per address."""
    paths = upload(server, heavy_frames(), "10.6.0.1").json()
    predict, codes = fn_index(server, "predict_file"), []
    for _ in range(18):
        codes.append(join(server, predict, [file_data(paths), 10, 0, True, MODEL], "10.6.0.2").status_code)
    assert codes.count(200) <= guard.JOBS_PER_ADDRESS and set(codes) <= {200, 429}
    session, tic = uuid.uuid4().hex, time.monotonic()
    assert join(server, fn_index(server, "sample"), [1, 2, 0.1, 5, MODEL], "10.6.0.3", session).status_code == 200
    assert outcome(server, session)["success"]
    assert time.monotonic() - tic < 3 * MAX_SECONDS  # waits for at most the slots ahead of it, not the flood


def test_one_address_calling_in_a_loop_is_slowed_to_its_rate(server):
    """12 clients of one address looping /files slowed everyone's /sample 5x; calls past the token bucket are refused."""
    files, codes, tic = fn_index(server, "files"), [], time.monotonic()
    for _ in range(guard.JOBS_BURST + 10):
        r = join(server, files, ["no-such-result"], "10.6.1.1")
        codes.append(r.status_code)
        if r.status_code == 429:
            assert "requests a minute" in r.json()["detail"]
    refilled = (time.monotonic() - tic) * guard.JOBS_PER_MINUTE / 60  # tokens that came back meanwhile
    assert guard.JOBS_BURST <= codes.count(200) <= guard.JOBS_BURST + refilled + 1 and 429 in codes
    time.sleep(60 / guard.JOBS_PER_MINUTE + 0.1)
    assert join(server, files, ["no-such-result"], "10.6.1.1").status_code == 200  # a token came back


def test_monitoring_is_closed(server):
    for route in ["monitoring", "monitoring/summary", "monitoring/anything"]:
        assert httpx.get(server + route).status_code == 403


@pytest.mark.parametrize("data, field", [
    (["1e400", 2, 0.1, 5], "seed"), ([[1], 2, 0.1, 5], "seed"), ([{}, 2, 0.1, 5], "seed"), ([1e300, 2, 0.1, 5], "seed"),
    ([0, True, 0.1, 5], "digits"), ([0, 2, "fast", 5], "speed"), ([0, 2, 0.1, 31], "horizon"),
    ([0, 2, 0.1, 5, "gpt"], "model"), ([0, 2, 0.1, 5, 1], "model"),
])
def test_every_form_value_is_understood_or_refused_by_name(server, data, field):
    from gradio_client import Client
    from gradio_client.exceptions import ValidationError

    with pytest.raises(ValidationError, match=f"- {field}: {field} "):
        Client(server, verbose=False).predict(*data, api_name="/sample")


def test_a_checkbox_string_and_malformed_files_are_refused_by_name(server):
    predict = fn_index(server, "predict_file")
    for data, field in [([None, 10, 0, "false", MODEL], "fix"), ([[1], 10, 0, True, MODEL], "files"),
                        ([file_data(["/etc/passwd"]), 10, 0, True, MODEL], "files")]:
        r = join(server, predict, data, "10.7.0.1")
        assert r.status_code == 422 and r.json()["detail"][0]["parameter_name"] == field, r.text
    body = {"data": [0, 2, 0.1, 5, MODEL], "fn_index": "0", "session_hash": "s"}  # pydantic would make "0" a 0
    r = httpx.post(server + "gradio_api/queue/join", json=body, headers={"X-Forwarded-For": "10.7.0.2"})
    assert r.status_code == 404
    example = next(i for i, d in enumerate(httpx.get(server + "config").json()["dependencies"])
                   if any(t[1] == "select" for t in d["targets"]))
    for event in [None, {"index": 0}, {"index": "0", "value": 1}, {"index": [0], "value": 1}]:
        body = {"data": [10, True, MODEL], "fn_index": example, "session_hash": uuid.uuid4().hex, "event_data": event}
        r = httpx.post(server + "gradio_api/queue/join", json=body, headers={"X-Forwarded-For": "10.7.0.3"})
        assert r.status_code == 422 and "event_data" in r.text, (event, r.text)
    for data in ([0, 2, 0.1], [0, 2, 0.1, 5, MODEL, 1]):  # too few or too many: named, not a traceback
        r = join(server, fn_index(server, "sample"), data, "10.7.0.4")
        assert r.status_code == 422 and "data must hold 5 values, in order (seed, digits, speed, horizon, model)" in r.text
    body = json.dumps({"data": [0, 2, 0.1, float("nan"), MODEL], "fn_index": fn_index(server, "sample"), "session_hash": "n"})
    r = httpx.post(server + "gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "horizon is NaN" in r.text  # NaN is not JSON, but Python's parser takes it
