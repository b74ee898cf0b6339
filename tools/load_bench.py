"""Load benchmark of the app: p50/p95 latency and the server's peak memory under a burst of /sample jobs.

    python -m tools.load_bench                # starts `python app.py` on a free loopback port, then fires
    python -m tools.load_bench --jobs 54      # 3 x (concurrency + queue size) jobs at once by default

Not a test: timings depend on the machine. The figures go in README ("Limits").
"""
import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import wait
from pathlib import Path

import numpy as np
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import app  # for the queue settings only; the server runs in its own process

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3 * (app.CONCURRENCY + app.QUEUE_SIZE))
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = None
        for _ in range(120):  # wait for start-up (model load, example caching)
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                time.sleep(1)
        if client is None:
            sys.exit("load_bench: the app did not start within 120 s")
        idle_rss = peak_rss_mb(server.pid)
        tic = time.perf_counter()
        single = []
        for seed in range(5):
            t0 = time.perf_counter()
            client.predict(seed, 2, 0.1, args.horizon, api_name="/sample")
            single.append(time.perf_counter() - t0)
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
        wall = time.perf_counter() - tic
        lat = np.array(latencies)
        print(f"single request (sequential, horizon {args.horizon}): median {np.median(single) * 1e3:.0f} ms")
        print(f"burst of {args.jobs} simultaneous /sample jobs: {len(lat)} served, {refused} refused (queue full), "
              f"{wall:.1f} s in all")
        if len(lat):
            print(f"served latency p50 {np.percentile(lat, 50):.2f} s, p95 {np.percentile(lat, 95):.2f} s")
        print(f"server peak memory: {peak_rss_mb(server.pid):.0f} MB (after start-up {idle_rss:.0f} MB)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
