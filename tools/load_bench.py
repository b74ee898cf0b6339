"""Speed of the app: the /sample handler's stages, end-to-end latency through gradio_client, and a burst.

    python -m tools.load_bench                 # starts `python app.py` on a free loopback port, then measures
    python -m tools.load_bench --requests 40   # more sequential requests for steadier percentiles

1. Handler breakdown in this process: convlstm.showcase.pipeline.show, all of /sample's work (model, players,
   scores, the arrays left for /files), and convlstm.showcase.pipeline.files, all of /files' (downloads, filmstrip).
2. End to end: sequential /sample requests through gradio_client against the real server, p50 / p95, then /sample
   followed by /files (what the page does: the files arrive after the result), with the client's file downloads.
3. A burst of 3 x (concurrency + queue size) simultaneous jobs from as many visitors: served, refused ("queue is
   full"), latency, and the server's peak memory.
4. With --attack, the attacks of 2026-12-01 on a public Space (showcase/guard.py, the sandbox): what each costs the
   server (memory, decoders, disk) and what it does to an honest visitor's /sample meanwhile.
Not a test: timings depend on the machine, so the CPU line is printed with them. The app is never imported
here (its limits come from convlstm.showcase); the server runs in its own process, behind one emulated proxy hop
(CONVLSTM_PROXY_HOPS=1), so that each simulated visitor has an address of its own.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx
import numpy as np
from gradio_client import Client

from convlstm.showcase import guard, pipeline, probe
from convlstm.upload import clips, sandbox
from convlstm.api import default_model
from convlstm.checkpoint import DEFAULT_MODEL
from convlstm.data import CONTEXT, generate_sequence, load_digits
from convlstm.runtime import describe_cpu

ROOT = Path(__file__).resolve().parents[1]


def percentiles(seconds: list[float]) -> str:
    """Median and 95th percentile of latencies given in seconds, in ms."""
    a = np.array(seconds) * 1e3
    return f"p50 {np.percentile(a, 50):.0f} ms, p95 {np.percentile(a, 95):.0f} ms (n={len(a)})"


def handler_breakdown(horizon: int, repeats: int) -> None:
    """Median milliseconds per stage of pipeline.show (/sample's work) and pipeline.files (/files'), in this process."""
    digits, model = load_digits("test"), default_model()
    rows = []
    for seed in range(repeats + 1):
        seq = generate_sequence(np.random.default_rng(seed), digits, num_frames=CONTEXT + horizon)
        with tempfile.TemporaryDirectory() as out:
            shown = pipeline.show(seq[:CONTEXT], seq[CONTEXT:], horizon, Path(out), model=model)
            rows.append((shown.timings, pipeline.files(Path(out)).timings))
    rows = rows[1:]  # the first call warms up the model
    for name, i in (("/sample", 0), ("/files", 1)):
        stages = {k: np.median([r[i][k] for r in rows]) * 1e3 for k in rows[0][i]}
        parts = ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
        print(f"{name} handler (median of {repeats}, horizon {horizon}): {sum(stages.values()):.0f} ms = {parts} ms")


def honest_sample(url: str, address: str) -> float:
    """Seconds for one /sample from a visitor who is not part of the attack (the /config lookup not timed)."""
    sample = probe.fn_index(url, "sample")
    session, tic = uuid.uuid4().hex, time.perf_counter()
    r = probe.join(url, sample, [1, 2, 0.1, 10, DEFAULT_MODEL], address, session)
    if r.status_code != 200 or not probe.outcome(url, session)["success"]:
        raise RuntimeError(f"the honest visitor was refused: {r.status_code} {r.text[:200]}")
    return time.perf_counter() - tic


def loop_files(url: str, result: str, address: str, until: float) -> int:
    """Ask for one result's files again and again until `until`; how many were served. A refusal is retried after
    0.1 s: this client runs on the server's own 2 cores, and spinning on refusals would measure its own CPU."""
    files, served = probe.fn_index(url, "files"), 0
    while time.monotonic() < until:
        session = uuid.uuid4().hex
        if probe.join(url, files, [result], address, session).status_code == 200:
            probe.outcome(url, session)
            served += 1
        else:
            time.sleep(0.1)
    return served


def attack(url: str, pid: int) -> None:
    """Each attack of the 2026-12-01 audit, and what it costs the server and an honest visitor."""
    def rss() -> float:
        return sandbox.proc_bytes("VmRSS", pid) / 2**20

    print(f"honest /sample alone: {honest_sample(url, '10.0.0.1') * 1e3:.0f} ms")
    before, codes = rss(), []
    for _ in range(5):  # hole 1: 100 MB request bodies
        try:
            codes.append(httpx.post(url + "gradio_api/queue/join", content=b"7" * (100 * 2**20),
                                    headers={"content-type": "application/json"}, timeout=60).status_code)
        except httpx.HTTPError as e:  # the server answered 413 and closed while the body was still going
            codes.append(type(e).__name__)
    print(f"5 x 100 MB request bodies: {codes}; server memory {rss() - before:+.0f} MB")
    before, files = rss(), probe.fn_index(url, "files")
    for _ in range(2 * pipeline.SESSIONS):
        probe.join(url, files, ["no-such-result"], "10.1.0.1")
    time.sleep(2)
    print(f"{2 * pipeline.SESSIONS} new sessions: server memory {rss() - before:+.0f} MB (Gradio keeps {pipeline.SESSIONS})")

    paths = probe.upload(url, probe.heavy_frames(), "10.2.0.1").json()
    predict, peak, tic = probe.fn_index(url, "predict_file"), 0, time.perf_counter()
    session, tic = uuid.uuid4().hex, time.perf_counter()
    probe.join(url, predict, [probe.file_data(paths), 10, 0, True, DEFAULT_MODEL], "10.2.0.1", session)
    alone = probe.outcome(url, session)["success"] and time.perf_counter() - tic
    tic = time.perf_counter()
    for i in range(12):  # hole 2: jobs cancelled 0.3 s after they join, in the middle of their decoding
        session = uuid.uuid4().hex
        r = probe.join(url, predict, [probe.file_data(paths), 10, 0, True, DEFAULT_MODEL], f"10.2.1.{i}", session)
        for _ in range(15):
            peak = max(peak, probe.decoders())
            time.sleep(0.02)
        probe.cancel(url, predict, session, r.json()["event_id"])
    print(f"one upload at the pixel cap (64 PNG frames of 1248x1248): {alone:.2f} s; 12 of them, each cancelled 0.3 s "
          f"after it joined: at most {peak} decoders alive (cap {clips.MAX_DECODERS}) over "
          f"{time.perf_counter() - tic:.1f} s; then an honest /sample {honest_sample(url, '10.0.0.2') * 1e3:.0f} ms")
    codes = [probe.join(url, predict, [probe.file_data(paths), 10, 0, True, DEFAULT_MODEL], "10.6.0.1").status_code for _ in range(18)]
    during = honest_sample(url, "10.0.0.3")
    print(f"18 uploads at the pixel cap from one address: {codes.count(200)} queued, {codes.count(429)} refused (429); "
          f"an honest /sample meanwhile {during:.1f} s")

    tic, taken, status = time.perf_counter(), 0, 200
    while status == 200 and taken < 10 * guard.CLIENT_UPLOAD_BYTES:  # hole 4: the upload route flooded
        status = probe.upload(url, [("u.npy", os.urandom(clips.MAX_BYTES))], "10.4.0.1").status_code
        taken += clips.MAX_BYTES * (status == 200)
    big = probe.upload(url, [("b.npy", bytes(60 * 2**20))], "10.4.0.2").status_code
    print(f"upload flood from one address: {taken / 2**20:.0f} MB taken in {time.perf_counter() - tic:.1f} s, then "
          f"{status}; one 60 MB POST: {big}")

    session = uuid.uuid4().hex
    probe.join(url, probe.fn_index(url, "sample"), [0, 2, 0.1, 10, DEFAULT_MODEL], "10.5.0.1", session)
    result = probe.outcome(url, session)["output"]["data"][0]
    until = time.monotonic() + 20
    with ThreadPoolExecutor(12) as pool:  # 12 clients of one address asking for the same files again and again
        loops = [pool.submit(loop_files, url, result, "10.5.0.2", until) for _ in range(12)]
        time.sleep(3)
        during = [honest_sample(url, f"10.0.1.{i}") for i in range(5)]
    print(f"12 clients of one address looping /files for 20 s ({sum(f.result() for f in loops)} served): an honest "
          f"/sample meanwhile {percentiles(during)}")
    print(f"server peak memory after the attacks: {sandbox.proc_bytes('VmHWM', pid) / 2**20:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="sequential /sample requests for p50/p95")
    parser.add_argument("--jobs", type=int, default=3 * (pipeline.CONCURRENCY + pipeline.QUEUE_SIZE))
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--attack", action="store_true", help="also run the public-Space attacks and measure their cost")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}")
    handler_breakdown(args.horizon, repeats=10)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "CONVLSTM_PROXY_HOPS": "1"}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = None
        for _ in range(120):  # wait for start-up
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                time.sleep(1)
        if client is None:
            sys.exit("load_bench: the app did not start within 120 s")
        client.predict(0, 2, 0.1, args.horizon, api_name="/sample")  # the first request loads the weights
        idle_rss = sandbox.proc_bytes("VmHWM", server.pid) / 2**20
        single, with_files = [], []
        visitors = [Client(f"http://127.0.0.1:{port}/", verbose=False, headers={"X-Forwarded-For": f"10.8.0.{i}"})
                    for i in range(args.requests)]  # one visitor per request: as fast as this, one address is rate-capped
        for seed, visitor in enumerate(visitors, 1):
            t0 = time.perf_counter()
            result = visitor.predict(seed, 2, 0.1, args.horizon, api_name="/sample")[0]
            single.append(time.perf_counter() - t0)
            visitor.predict(result, api_name="/files")  # the filmstrip and downloads, fetched by the client
            with_files.append(time.perf_counter() - t0)
        print(f"end to end through gradio_client (horizon {args.horizon}), sequential: /sample {percentiles(single)}; "
              f"/sample then /files {percentiles(with_files)}")

        crowd = [Client(f"http://127.0.0.1:{port}/", verbose=False, headers={"X-Forwarded-For": f"10.9.0.{i}"})
                 for i in range(args.jobs)]  # one visitor each: the door caps a single visitor's burst
        tic = time.perf_counter()
        starts, ends, jobs = {}, {}, []
        for i in range(args.jobs):
            starts[i] = time.perf_counter()
            jobs.append(crowd[i].submit(i, 2, 0.1, args.horizon, api_name="/sample"))
            jobs[-1].add_done_callback(lambda _, i=i: ends.__setitem__(i, time.perf_counter()))
        wait(jobs, timeout=600)
        latencies, refused = [], 0
        for i, job in enumerate(jobs):
            try:
                job.result(timeout=1)
                latencies.append(ends[i] - starts[i])
            except Exception as e:  # the queue-full refusal is expected; anything else is a real failure
                if "queue is full" not in str(e).lower():
                    raise
                refused += 1
        print(f"burst of {args.jobs} simultaneous /sample jobs: {len(latencies)} served, {refused} refused (queue full), "
              f"{time.perf_counter() - tic:.1f} s in all" + (f"; served {percentiles(latencies)}" if latencies else ""))
        print(f"server peak memory: {sandbox.proc_bytes('VmHWM', server.pid) / 2**20:.0f} MB (after the first request {idle_rss:.0f} MB)")
        if args.attack:
            attack(f"http://127.0.0.1:{port}/", server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
