"""The app's HTTP door: what Gradio would take from any stranger before a handler runs, bounded.

An ASGI middleware in front of every route Gradio serves (app.py passes it to launch()):
- only the POST routes the page and gradio_client use are served (ROUTES and /call/<api name>); the rest of
  Gradio's (component_server, process_recording, /call/v2, /stream, ...) answer 404;
- request bodies are capped before anything parses them, by Content-Length and again as the bytes arrive:
  BODY_BYTES for calls (JSON), UPLOAD_BYTES and MAX_FILES files for Gradio's upload route (one request's clip, as
  the upload limits: Gradio itself takes 1,000 files of 20 MB in one call); a length that is missing, doubled or
  beside a chunked encoding is charged as the whole cap, or refused;
- uploads are held to a disk quota: the upload folder and the app's work folder together stay under DISK_QUOTA
  (counted in disk blocks, so a flood of tiny files counts what it costs), the upload folder's oldest entries
  pruned first, but never one younger than YOUNG_S (the 15 minutes every visitor's files are promised; the results
  in the work folder are never pruned for space) nor a protected one such as the gallery's thumbnails: a flood
  gets 507s, it never deletes what another visitor still has. One address may upload CLIENT_UPLOAD_BYTES per
  WINDOW_S, each file charged FILE_CHARGE besides its bytes (uploads are held to this, not to the call rate below:
  gradio_client sends one file per call);
- each session and each client address may have at most JOBS_PER_SESSION / JOBS_PER_ADDRESS jobs waiting or
  running, and an address may make JOBS_PER_MINUTE calls a minute (a token bucket of JOBS_BURST), so that one
  visitor can neither fill the queue that everyone shares nor keep the CPU busy with cheap calls in a loop;
- every form value (and a gallery click's event data) of a call that joins the queue has its field's type
  (forms.payload), or the call is refused with a message that names the field, before Gradio converts anything.
Refusals are JSON {"detail": ...}; the page shows the message. A bad form value is a 422 in Gradio's own
validation format, so gradio_client raises ValidationError with the message; the others are 400, 404, 413, 429
and 507.
"""
import asyncio
import collections
import ipaddress
import json
import os
import threading
import time
from pathlib import Path

from python_multipart.multipart import parse_options_header

from ..upload.limits import MAX_FILES, MAX_REQUEST_BYTES
from . import forms, workdirs
from .pipeline import KEEP_S

ROUTES = ("/queue/join", "/upload", "/cancel", "/reset", "/run/predict")  # POST routes served, besides /call/<name>
BODY_BYTES = 256 * 2**10  # a call's JSON: form values and up to 64 file references take a few KB
UPLOAD_BYTES = MAX_REQUEST_BYTES + 2**20  # one request's files, plus the multipart framing
DISK_QUOTA = 1024 * 2**20  # bytes of disk in the upload and work folders together
YOUNG_S = KEEP_S  # entries younger than this are never pruned for space: every visitor's files keep their promised life
CLIENT_UPLOAD_BYTES = 200 * 2**20  # bytes one client address may upload per WINDOW_S
WINDOW_S = 600
FILE_CHARGE = 8 * 2**10  # charged for each file of an upload besides its bytes: it takes a folder and a block of disk
JOBS_PER_SESSION = 4  # jobs waiting or running per browser session (a page load queues at most 2)
JOBS_PER_ADDRESS = 6  # per client address, whatever sessions it makes up
JOBS_PER_MINUTE = 120  # calls one address may make a minute, on average: a visitor dragging sliders makes ~40
JOBS_BURST = 20  # ... and at once, after a quiet while (a page load makes 4, a slider release 3)
SCAN_S = 10.0  # the folders' disk use is measured at most this often (off the event loop); admitted bytes in between
# Behind a proxy (a Hugging Face Space) the client's address is the one the nearest proxy appended to
# X-Forwarded-For; entries further left are whatever the client wrote. Elsewhere the peer address itself (app.py
# tells uvicorn to trust no forwarding header, so that is the real peer). IPv6 addresses count per /64 network.
PROXY_HOPS = int(os.environ.get("CONVLSTM_PROXY_HOPS", "1" if os.environ.get("SPACE_ID") else "0"))


class _TooLarge(Exception):
    """The body grew past its cap (or its file count) while it was being read."""


def _client(scope: dict) -> str:
    """The client's address: the peer, or the PROXY_HOPS-th X-Forwarded-For entry from the right behind proxies."""
    address = scope["client"][0] if scope.get("client") else "?"
    if PROXY_HOPS:
        forwarded = [h for k, v in scope.get("headers", []) if k == b"x-forwarded-for" for h in v.decode("latin-1").split(",")]
        if len(forwarded) >= PROXY_HOPS:
            address = forwarded[-PROXY_HOPS].strip()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else address


def _entries(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, bytes of disk, path) of each top-level entry of `folder`, counted through its whole tree."""
    out = []
    try:
        top = list(os.scandir(folder))
    except FileNotFoundError:
        return out
    for entry in top:
        try:
            stat = entry.stat(follow_symlinks=False)
            size = stat.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                for base, dirs, files in os.walk(entry.path):
                    size += sum(os.lstat(os.path.join(base, f)).st_blocks * 512 for f in dirs + files)
        except FileNotFoundError:  # removed while we looked
            continue
        out.append((stat.st_mtime, size, Path(entry.path)))
    return out


class Disk:
    """The upload quota: disk used in the upload and work folders, the upload folder pruned oldest first, and
    per-client upload bytes over WINDOW_S."""

    def __init__(self, uploads: Path, work: Path, protect: set[Path]):
        self.uploads, self.work, self.protect = uploads, work, {p.resolve() for p in protect}
        self.lock = threading.RLock()  # admit() runs in a worker thread, charge() also on the event loop
        self.sent: dict[str, collections.deque] = collections.defaultdict(collections.deque)  # client -> (time, bytes)
        self.scanned_at, self.used = -SCAN_S, 0

    def measure(self, now: float) -> list[tuple[float, int, Path]]:
        """The upload folder's entries (the prunable ones); self.used becomes both folders' disk use."""
        entries = _entries(self.uploads)
        self.used = sum(size for _, size, _ in entries + _entries(self.work))
        self.scanned_at = now
        return entries

    def admit(self, client: str, nbytes: int) -> str | None:
        """None if `client` may upload `nbytes` now (pruning old entries to make room), else the reason why not."""
        now = time.monotonic()
        with self.lock:
            sent = self.sent[client]
            while sent and sent[0][0] < now - WINDOW_S:
                sent.popleft()
            if sum(n for _, n in sent) + nbytes > CLIENT_UPLOAD_BYTES:
                return (f"you uploaded over {CLIENT_UPLOAD_BYTES // 2**20} MB in the last {WINDOW_S // 60} minutes; "
                        "try again later")
            if now - self.scanned_at >= SCAN_S:
                entries = self.measure(now)
                if self.used + nbytes > DISK_QUOTA:
                    self._prune(entries, self.used + nbytes - DISK_QUOTA)
            if self.used + nbytes > DISK_QUOTA:
                return "the server's upload space is full with other visitors' recent files; try again in a few minutes"
            self.charge(client, nbytes, now)
            for quiet in [c for c, q in self.sent.items() if not q]:
                del self.sent[quiet]
            return None

    def charge(self, client: str, nbytes: int, now: float | None = None) -> None:
        """Count `nbytes` against the client's window and the disk (the uploads until the next scan see it)."""
        with self.lock:
            self.sent[client].append((time.monotonic() if now is None else now, nbytes))
            self.used += nbytes

    def _prune(self, entries: list[tuple[float, int, Path]], excess: int) -> None:
        """Remove the oldest unprotected entries older than YOUNG_S until `excess` bytes are gone (or none is left)."""
        old = time.time() - YOUNG_S
        for mtime, size, path in sorted(entries):
            if excess <= 0 or mtime > old:
                break
            if path.resolve() in self.protect or path.name.startswith(".pruning-"):
                continue
            if workdirs.discard(path):
                excess -= size
                self.used -= size


def _jobs(queue) -> list:
    """The events waiting in Gradio's queue or running now (gradio.queueing.Queue, gradio 6)."""
    waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
    return waiting + [e for job in queue.active_jobs if job for e in job]


class Jobs:
    """Who has how many jobs in Gradio's queue, and each address's token bucket of calls."""

    def __init__(self, blocks):
        self.blocks, self.buckets = blocks, {}  # address -> (tokens, when they were counted)

    def take(self, client: str) -> str | None:
        """None if `client` may make a call now (it takes a token from its bucket), else why not."""
        now = time.monotonic()
        tokens, then = self.buckets.get(client, (JOBS_BURST, now))
        tokens = min(JOBS_BURST, tokens + (now - then) * JOBS_PER_MINUTE / 60)
        if tokens < 1:
            return f"over {JOBS_PER_MINUTE} requests a minute from your address; wait a few seconds"
        self.buckets[client] = (tokens - 1, now)
        if len(self.buckets) > 10_000:  # forget full buckets (quiet addresses), so the book stays small
            full = 60 * JOBS_BURST / JOBS_PER_MINUTE
            self.buckets = {a: (t, w) for a, (t, w) in self.buckets.items() if now - w < full}
        return None

    def problem(self, call: dict, client: str) -> str | None:
        """None if this call may join the queue, else why not: its session or address has too many jobs in it."""
        jobs, session = _jobs(self.blocks._queue), call.get("session_hash")
        if session and sum(e.session_hash == session for e in jobs) >= JOBS_PER_SESSION:
            return (f"this page already has {JOBS_PER_SESSION} requests waiting or running; wait for them to finish "
                    "(release the slider, click once)")
        if sum(_client(e.request.scope) == client for e in jobs) >= JOBS_PER_ADDRESS:
            return f"your address already has {JOBS_PER_ADDRESS} requests waiting or running; wait for them to finish"
        return None


def _function(blocks, call: dict, path: str):
    """The BlockFunction a queue call names (by fn_index, or by the api name of /call/<name>), or None."""
    if "/call/" in path:
        return next((f for f in blocks.fns.values() if f.api_name == path.rsplit("/", 1)[-1]), None)
    index = call.get("fn_index")
    return blocks.fns.get(index) if isinstance(index, int) and not isinstance(index, bool) else None


def _form_problem(fn, call: dict, fields: dict, uploads: Path) -> tuple[str, str] | None:
    """(field name, message) for the first form value (or event data) of this call of `fn` that has the wrong type."""
    data = call.get("data")
    if not isinstance(data, list):
        return "data", "data must be a list of the inputs' values, in order"
    if len(data) != len(fn.inputs):  # Gradio would answer with a traceback in the log and no message
        names = ", ".join(fields.get(block._id, (block.label or type(block).__name__,))[0] for block in fn.inputs)
        return "data", f"data must hold {len(fn.inputs)} values, in order ({names}), got {len(data)}"
    for block, value in zip(fn.inputs, data):
        if block._id in fields:
            name, kind = fields[block._id]
            try:
                forms.payload(value, name, kind, MAX_FILES, uploads, getattr(block, "minimum", None),
                              getattr(block, "maximum", None), getattr(block, "choices", None))
            except forms.FormError as e:
                return name, str(e)
    event = call.get("event_data")
    if fn.collects_event_data and not (isinstance(event, dict) and "value" in event and isinstance(event.get("index"), int)
                                       and not isinstance(event["index"], bool)):
        return "event_data", "a click on a ready sequence sends {'index': N, 'value': ...}"
    return None


class Guard:
    """ASGI middleware: routes, body caps, the upload quota, per-client job caps and form types in front of a Gradio
    app (see above). fields: component id -> (name, kind) of every form field that forms.payload checks."""

    def __init__(self, app, blocks, uploads: Path, work: Path, fields: dict, protect: set[Path] = frozenset()):
        self.app, self.blocks, self.uploads, self.fields = app, blocks, uploads, fields
        self.disk, self.jobs = Disk(uploads, work, protect), Jobs(blocks)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        path, client = scope["path"].rstrip("/"), _client(scope)
        queued = path.endswith("/queue/join") or ("/call/" in path and "/call/v2/" not in path)
        if not (queued or path.endswith(ROUTES)):
            return await _refuse(send, 404, "not a route this app serves")
        headers = collections.Counter(k for k, _ in scope["headers"])
        if any(headers[k] > 1 for k in (b"content-length", b"content-type", b"transfer-encoding")):
            return await _refuse(send, 400, "a header is given twice")
        given = dict(scope["headers"])
        length, chunked = given.get(b"content-length"), b"transfer-encoding" in given
        if chunked and length is not None:
            return await _refuse(send, 400, "both Content-Length and Transfer-Encoding; send one")
        if length is not None and not length.isdigit():
            return await _refuse(send, 400, "Content-Length is not a number")
        upload = path.endswith("/upload")
        cap = UPLOAD_BYTES if upload else BODY_BYTES
        if length is not None and int(length) > cap:
            return await _refuse(send, 413, _too_large(int(length), cap, upload))
        if not path.endswith(("/cancel", "/upload")) and (problem := self.jobs.take(client)):
            return await _refuse(send, 429, problem)
        if upload:  # a body without a length is charged the whole cap; the disk scan runs off the event loop
            charge = cap if length is None else int(length)
            if problem := await asyncio.to_thread(self.disk.admit, client, charge):
                return await _refuse(send, 507, problem)
        started = False

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if queued:
                body = await _read(receive, cap)
                try:
                    call = json.loads(body)
                except ValueError:
                    call = None
                if isinstance(call, dict):  # else not a JSON object: Gradio answers it with its own 4xx
                    if (fn := _function(self.blocks, call, path)) is None:
                        return await _refuse(send, 404, "no such function: use an api_name of this app's API page")
                    if wrong := _form_problem(fn, call, self.fields, self.uploads):
                        return await _refuse(send, 422, [{"__type__": "validate", "is_valid": False,
                                                          "parameter_name": wrong[0], "message": wrong[1]}])
                    if problem := self.jobs.problem(call, client):
                        return await _refuse(send, 429, problem)
                receive = _replay(body, receive)
            else:
                receive = _counted(receive, cap, _delimiter(given) if upload else None,
                                   lambda files: self.disk.charge(client, files * FILE_CHARGE))
            await self.app(scope, receive, watched_send)
        except _TooLarge as e:
            if not started:
                await _refuse(send, 413, str(e) or _too_large(None, cap, upload))


def _delimiter(headers: dict) -> bytes | None:
    """The multipart delimiter of a request's Content-Type ("--" + boundary), read as the multipart parser reads it."""
    _, options = parse_options_header(headers.get(b"content-type", b""))
    boundary = options.get(b"boundary")
    return b"--" + boundary if boundary else None


def _too_large(length: int | None, cap: int, upload: bool) -> str:
    size = _size(length) if length else "over the limit"
    what = "the files of one upload" if upload else "one request (form values and file references)"
    return f"request body {size}; at most {_size(cap)} for {what}"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


async def _read(receive, cap: int) -> bytes:
    """The whole request body, or _TooLarge past `cap` bytes."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > cap:
            raise _TooLarge
        if not message.get("more_body"):
            return bytes(body)


def _replay(body: bytes, receive):
    """A receive() that hands the app a body already read, then listens to the client again (for its disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replayed


def _counted(receive, cap: int, delimiter: bytes | None = None, counted_parts=None):
    """receive(), raising _TooLarge once more than `cap` body bytes have come (chunked bodies have no length), or,
    for a multipart body, once it holds more than MAX_FILES parts (counted by their `delimiter`, and handed to
    `counted_parts` at the body's end)."""
    seen, parts, tail = 0, -1, b""  # the closing delimiter is one more than the parts

    async def counted():
        nonlocal seen, parts, tail
        message = await receive()
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > cap:
            raise _TooLarge
        if delimiter:
            window = tail + chunk  # a delimiter split across two chunks is counted once, in the second
            parts += window.count(delimiter)
            tail = window[-(len(delimiter) - 1):]
            if parts > MAX_FILES:
                raise _TooLarge(f"more than {MAX_FILES} files in one upload")
            if not message.get("more_body") and counted_parts:
                counted_parts(max(parts, 0))
        return message
    return counted


async def _refuse(send, status: int, detail) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
