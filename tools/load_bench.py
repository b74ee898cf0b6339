"""Speed of the app: the /sample handler's stages, end-to-end latency through gradio_client, and a burst.

    python -m tools.load_bench                 # starts `python app.py` on a free loopback port, then measures
    python -m tools.load_bench --requests 40   # more sequential requests for steadier percentiles

1. Handler breakdown in this process: convlstm.pipeline.show, all of /sample's work (model, players, scores, the
   arrays left for /files), and convlstm.pipeline.files, all of /files' (downloads, filmstrip).
2. End to end: sequential /sample requests through gradio_client against the real server, p50 / p95, then /sample
   followed by /files (what the page does: the files arrive after the result), with the client's file downloads.
3. A burst of 3 x (concurrency + queue size) simultaneous jobs: served, refused ("queue is full"), latency,
   and the server's peak memory.
Not a test: timings depend on the machine, so the CPU line is printed with them. The app is never imported
here (its limits come from convlstm.showcase); the server runs in its own process.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import wait
from pathlib import Path

import numpy as np
from gradio_client import Client

from convlstm.showcase import pipeline
from convlstm.upload import sandbox
from convlstm.api import default_model
from convlstm.data import CONTEXT, generate_sequence, load_digits
from convlstm.runtime import describe_cpu

ROOT = Path(__file__).resolve().parents[1]


def percentiles(seconds: list[float]) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="sequential /sample requests for p50/p95")
    parser.add_argument("--jobs", type=int, default=3 * (pipeline.CONCURRENCY + pipeline.QUEUE_SIZE))
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}")
    handler_breakdown(args.horizon, repeats=10)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
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
        for seed in range(1, args.requests + 1):
            t0 = time.perf_counter()
            result = client.predict(seed, 2, 0.1, args.horizon, api_name="/sample")[0]
            single.append(time.perf_counter() - t0)
            client.predict(result, api_name="/files")  # the filmstrip and downloads, fetched by the client
            with_files.append(time.perf_counter() - t0)
        print(f"end to end through gradio_client (horizon {args.horizon}), sequential: /sample {percentiles(single)}; "
              f"/sample then /files {percentiles(with_files)}")

        tic = time.perf_counter()
        starts, ends, jobs = {}, {}, []
        for i in range(args.jobs):
            starts[i] = time.perf_counter()
            jobs.append(client.submit(i, 2, 0.1, args.horizon, api_name="/sample"))
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
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
