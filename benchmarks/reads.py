"""Reads under load: the report JSON, its status and a stored PDF, asked by many clients at once over loopback.

    .venv/bin/python -m benchmarks.reads [--clients 50] [--requests 2000] [--responses 500] [--rate 200]

A real report first (as `benchmarks.pdf_cache` makes it: the sample survey's first `--responses` responses,
`basic_stats` and `visualizations` in real kernels, SQLite in a temporary folder; not timed), its PDF rendered and
stored once. Then the API is served by uvicorn in its own process on a loopback port (as `workbench api` runs it) and
`--clients` concurrent clients send `--requests` requests per route, each with the admin key. The baseline, in the
same run and under the same load, is `GET /health/live` (no database, no serialisation): the ratio says what a
route costs over the server's floor. A second pass of the status route sends `If-None-Match` (pollers that
revalidate). Every route is measured twice: at saturation (each client asks again as soon as answered) and paced at
`--rate` requests/s (latency from when each request was due). Targets (issue 12): JSON p99 under 25 ms, stored PDF
p99 under 50 ms. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._stack import free_ports
from workbench.config import REPO_ROOT

TARGETS_MS = {"report JSON": 25.0, "status": 25.0, "status, revalidated (304)": 25.0, "stored PDF": 50.0}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One GET on a kept-alive HTTP/1.1 connection: (status, body). The API sends `Content-Length` on every
    answer these routes give; anything else is an error here rather than a misread."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
              if name}
    if status in (204, 304) or 100 <= status < 200:
        return status, b""  # no body, by definition
    if "content-length" not in fields:
        raise RuntimeError(f"an answer without Content-Length ({status}): {fields}")
    return status, await reader.readexactly(int(fields["content-length"]))


async def _load(base: str, path: str, headers: dict[str, str], clients: int, requests: int,
                rate: float | None = None) -> list[float]:
    """`requests` GETs of `path` from `clients` kept-alive connections; each request's latency in ms.

    Without `rate`, each client sends its next request as soon as its answer arrives (saturation: the latency is
    mostly the queue, clients / throughput). With `rate`, request k is due at start + k / rate on client
    k % clients, and its latency counts from when it was due, not from when it was sent, so a slow answer that
    delays the next request is charged to it (no coordinated omission).

    A minimal HTTP/1.1 client on asyncio streams: the load generator shares the machine with the server, and a
    full client library (httpx) spent more CPU per request than the API did: against a bare ASGI app answering
    "ok" it topped out near 300 requests/s with a p50 of 90 ms, which the table would have blamed on the API."""
    host, port = base.removeprefix("http://").split(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode("latin-1")
    latencies: list[float] = []
    todo = iter(range(requests))

    connections = [await asyncio.open_connection(host, int(port)) for _ in range(clients)]
    for reader, writer in connections:  # steady state: connected and warm before the clock starts (a first
        await _get(reader, writer, request)  # request paying for 50 connects at once is not a read's latency)

    start = time.perf_counter()

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for k in todo:
                started = time.perf_counter()
                if rate is not None:
                    started = start + k / rate
                    await asyncio.sleep(max(0.0, started - time.perf_counter()))
                status, body = await _get(reader, writer, request)
                latencies.append((time.perf_counter() - started) * 1000)
                if status not in (200, 304):
                    raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker(*connection) for connection in connections)), timeout=600)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="requests per route")
    parser.add_argument("--responses", type=int, default=500, help="responses of the sample survey to use")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="requests per second of the paced pass (the saturation pass sends as fast as answered)")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="API processes serving the port (`workbench api --workers N`)")
    args = parser.parse_args(argv)

    import httpx

    from benchmarks.pdf_cache import BENCH_KEY, _report

    with tempfile.TemporaryDirectory(prefix="workbench-reads-") as tmp:
        print("making a real report (not timed)...", file=sys.stderr)
        settings, report_id = _report(Path(tmp) / "data", args.responses)
        port = free_ports(1)[0]
        # The API in its own process, as `workbench api` runs it: in a thread of this process it would share the
        # GIL with the load generator, and the table would measure the clients as much as the server. Idle
        # connections are kept longer than uvicorn's 5 s default: a client reusing one the server is just closing
        # gets a read error (the race every keep-alive client has; a load balancer in front keeps them too).
        env = {**os.environ, "WORKBENCH_DATA_DIR": str(settings.data_dir),
               "WORKBENCH_BOOTSTRAP_ADMIN_KEY": BENCH_KEY, "WORKBENCH_RATE_LIMIT": ""}
        env.pop("WORKBENCH_DATABASE_URL", None)  # the default: SQLite in the data folder, where the report is
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                   "--no-access-log", "--timeout-keep-alive", "75", "--workers", str(args.api_workers)],
                                  env=env, cwd=REPO_ROOT)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {BENCH_KEY}"}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                server.wait(15)
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        try:
            pdf = httpx.get(f"{base}/api/v1/reports/{report_id}/pdf", headers=auth, timeout=120)
            if pdf.status_code != 200:
                raise RuntimeError(f"the first PDF download failed: {pdf.status_code} {pdf.text[:200]}")
            status = httpx.get(f"{base}/api/v1/reports/{report_id}/status", headers=auth)
            etag = status.headers["etag"]
            routes = [
                ("baseline: /health/live", "/health/live", {}),
                ("report JSON", f"/api/v1/reports/{report_id}", auth),
                ("status", f"/api/v1/reports/{report_id}/status", auth),
                ("status, revalidated (304)", f"/api/v1/reports/{report_id}/status", {**auth, "If-None-Match": etag}),
                ("stored PDF", f"/api/v1/reports/{report_id}/pdf", auth),
            ]
            size = len(httpx.get(f"{base}/api/v1/reports/{report_id}", headers=auth).content)
            passes: dict[str, dict[str, list[float]]] = {}
            for label, rate in (("saturation", None), (f"paced, {args.rate:.0f} requests/s", args.rate)):
                results = passes.setdefault(label, {})
                for name, path, headers in routes:
                    print(f"  {label}: {name}: {args.requests} requests, {args.clients} clients", file=sys.stderr)
                    started = time.perf_counter()
                    results[name] = asyncio.run(_load(base, path, headers, args.clients, args.requests, rate))
                    results[name].append(-(time.perf_counter() - started))  # wall time, popped below
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()

    processes = f"{args.api_workers} API process{'es' if args.api_workers > 1 else ''}"
    print(f"\nReads under load: {args.clients} concurrent clients, {args.requests} requests per route, "
          f"loopback, {processes}, {os.cpu_count()} cores; report JSON {size / 1024:.0f} KiB, "
          f"{args.responses} responses")
    for label, results in passes.items():
        walls = {name: -values.pop() for name, values in results.items()}
        floor = _percentile(results["baseline: /health/live"], 0.5)
        print(f"\n{label}:\n")
        print("| route | p50 ms | p99 ms | max ms | requests/s | p50 ratio to baseline | target p99 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, values in results.items():
            p50, p99 = _percentile(values, 0.5), _percentile(values, 0.99)
            target = TARGETS_MS.get(name)
            verdict = "" if target is None else f"< {target:.0f} ms: {'met' if p99 < target else 'missed'}"
            print(f"| {name} | {p50:.1f} | {p99:.1f} | {max(values):.1f} | {len(values) / walls[name]:.0f} | "
                  f"{p50 / floor:.2f} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
