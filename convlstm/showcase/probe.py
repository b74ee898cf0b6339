"""The app's queue spoken raw, as a stranger speaks it: for the door's tests (tests/test_door.py) and the attack
benchmark (tools/load_bench.py --attack), which must send what gradio_client never would.

Every call may speak for a client address through X-Forwarded-For, which the app believes only behind a proxy
(guard.PROXY_HOPS; the tests and the benchmark start it with CONVLSTM_PROXY_HOPS=1, as on a Space).
"""
import json
import os
import uuid
from pathlib import Path

import httpx


def fn_index(server: str, api_name: str) -> int:
    """The function index of an API name, from the app's /config."""
    deps = httpx.get(server + "config", timeout=30).json()["dependencies"]
    return next(i for i, d in enumerate(deps) if d.get("api_name") == api_name)


def join(server: str, fn: int, data: list, address: str, session: str | None = None) -> httpx.Response:
    """POST /gradio_api/queue/join as the page does, from `address`."""
    body = {"data": data, "fn_index": fn, "session_hash": session or uuid.uuid4().hex, "event_data": None,
            "trigger_id": None}
    return httpx.post(server + "gradio_api/queue/join", json=body, headers={"X-Forwarded-For": address}, timeout=30)


def cancel(server: str, fn: int, session: str, event_id: str) -> httpx.Response:
    """POST /gradio_api/cancel for one job, as the page's Stop (or a closed tab) does."""
    return httpx.post(server + "gradio_api/cancel", json={"session_hash": session, "fn_index": fn, "event_id": event_id},
                      timeout=10)


def outcomes(server: str, session: str, jobs: int, timeout: float = 120) -> list[dict]:
    """The process_completed messages of a session's first `jobs` jobs to end, read from its event stream."""
    done = []
    with httpx.stream("GET", server + f"gradio_api/queue/data?session_hash={session}", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                done.append(message)
                if len(done) == jobs:
                    return done
    raise RuntimeError(f"the event stream ended after {len(done)} of {jobs} results")


def outcome(server: str, session: str, timeout: float = 120) -> dict:
    """The process_completed message of a session's job, read from its event stream."""
    return outcomes(server, session, 1, timeout)[0]


def upload(server: str, files: list[tuple[str, bytes]], address: str) -> httpx.Response:
    """POST /gradio_api/upload of (name, bytes) files, from `address`; a 200 lists their server paths."""
    return httpx.post(server + "gradio_api/upload", files=[("files", f) for f in files],
                      headers={"X-Forwarded-For": address}, timeout=120)


def file_data(paths: list[str]) -> list[dict]:
    """Server paths as the file references a File input takes."""
    return [{"path": p, "meta": {"_type": "gradio.FileData"}} for p in paths]


def decoders(target: str = "") -> int:
    """Sandbox workers alive on this machine (of `target`, "module:function", if given), counted from /proc by their
    command line, not from the sandbox's own books."""
    n = 0
    for pid in os.listdir("/proc"):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes() if pid.isdigit() else b""
        except OSError:
            continue
        n += b"sandbox import serve" in line and target.encode() in line
    return n


def heavy_frames(n: int = 64, side: int = 1248) -> list[tuple[str, bytes]]:
    """n PNG frames of side x side, a bar moving across: an honest request at the pixel cap (~1 s of decoding)."""
    import io

    import numpy as np
    from PIL import Image

    frame, out = np.zeros((side, side), np.uint8), []
    for t in range(n):
        frame[:] = 0
        frame[side // 3:side // 3 + 80, 10 * t:10 * t + 80] = 255
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "PNG")
        out.append((f"f{t:02d}.png", buf.getvalue()))
    return out
