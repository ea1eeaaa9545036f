"""HTTP API benchmark: ``python -m bench.http_bench [--seconds 3] [--clients 1 8 32] [--workers 1] [--postgres]``.

(``--services``: a feature service's vector, see below.)

Starts ``featurestore serve`` on a fresh store seeded with ``--records`` customers, then for each
number of concurrent clients measures the health endpoint, GetRecord and PutRecord back to back
(plain ``http.client`` keep-alive connections, one thread per client, loopback only) and prints
requests/s with p50/p99 latency. The health endpoint is the baseline: what the server, the
event loop and the client threads cost before any store work. ``--postgres`` puts the store's
tables on a PostgreSQL server started for the run (the shared deployment, where servers on
several machines can serve one store).

``--services`` measures a feature service's vector instead (issue 23: at least 80% of a no-op's
requests/s): a service over 3 groups of 10 features, 1 entity per call, on a server with an access
key, so every call is signed (SigV4, signed before the run: the clients' signing is not measured)
and policy-checked. It runs ``--rounds`` rounds over the endpoints in turn (the median round of
each kept, the vector/no-op ratio printed round by round) and reads the server's CPU time per
request from /proc; ``--pin`` puts the server and the clients on cores of their own. The no-op is a signed POST to a path no operation has: the same dispatch
(body read, signature check, error mapping, 404) with no store work; ``GET /ping`` skips the
dispatch and is shown too. The clients share the machine
(and the GIL of this process) with the server, so the absolute figures are a floor.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .common import REPO_ROOT

sys.path.insert(0, REPO_ROOT)

from store import Feature, FeatureStore  # noqa: E402
from store.server.process import LocalServer  # noqa: E402

GROUP = "bench-customers"
EVENT_TIME = "2026-10-01T00:00:00Z"
Request = tuple[str, str, bytes | None]  # method, path, body
# --services: 3 groups x 10 features, one service over all 30, one access key (admin)
SERVICE, SERVICE_GROUPS, SERVICE_FEATURES = "bench-vector", ("bench-profile", "bench-orders", "bench-risk"), 10
KEY_ID, SECRET = "AKIDBENCHVECTOR1", "bench-vector-secret-1"
PRESIGNED = 400  # requests signed per client before the run (a signature holds 15 minutes)


@dataclass
class Result:
    endpoint: str
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float = 0.0  # the server's CPU seconds over the window (--services)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def seed(path: str, records: int, registry: str | None = None) -> None:
    import pandas as pd

    with FeatureStore(path, registry=registry) as fs:
        fs.create_feature_group(GROUP, "customer_id", "event_time", [
            Feature("customer_id", "Integral"), Feature("event_time", "String"), Feature("age", "Integral"),
            Feature("score", "Fractional"), Feature("country", "String"), Feature("segments", "String", "List")])
        rng = random.Random(7)
        fs.ingest(GROUP, pd.DataFrame({
            "customer_id": range(records), "event_time": [EVENT_TIME] * records,
            "age": [rng.randint(18, 90) for _ in range(records)], "score": [rng.random() for _ in range(records)],
            "country": [rng.choice(["NZ", "DE", "BR", "JP"]) for _ in range(records)],
            "segments": [["retail", "web"]] * records}))


def health(rng: random.Random, records: int) -> Request:
    return "GET", "/ping", None


def get_record(rng: random.Random, records: int) -> Request:
    return "GET", f"/FeatureGroup/{GROUP}?RecordIdentifierValueAsString={rng.randrange(records)}", None


def put_record(rng: random.Random, records: int) -> Request:
    values = {"customer_id": str(rng.randrange(records)), "event_time": EVENT_TIME, "age": str(rng.randint(18, 90)),
              "score": repr(rng.random()), "country": "NZ"}
    record = [{"FeatureName": k, "ValueAsString": v} for k, v in values.items()]
    record.append({"FeatureName": "segments", "ValueAsStringList": ["retail"]})
    return "PUT", f"/FeatureGroup/{GROUP}", json.dumps({"Record": record}).encode()


ENDPOINTS: dict[str, Callable[[random.Random, int], Request]] = {
    "health (GET /ping)": health, "GetRecord": get_record, "PutRecord": put_record}


def seed_services(path: str, records: int, access: str) -> None:
    import pandas as pd

    with FeatureStore(path, principal="root", access=access) as fs:
        rng = random.Random(11)
        for g, group in enumerate(SERVICE_GROUPS):
            names = [f"{group.split('-')[1]}_f{i}" for i in range(SERVICE_FEATURES)]
            kinds = ["Integral", "Fractional", "String"]
            fs.create_feature_group(group, "customer_id", "event_time", [
                Feature("customer_id", "Integral"), Feature("event_time", "String"),
                *[Feature(n, kinds[i % 3]) for i, n in enumerate(names)]])
            columns = {"customer_id": range(records), "event_time": [EVENT_TIME] * records}
            for i, n in enumerate(names):
                columns[n] = [[rng.randint(0, 999), rng.random(), rng.choice(["NZ", "DE", "BR"])][i % 3]
                              for _ in range(records)]
            fs.ingest(group, pd.DataFrame(columns))
        fs.create_feature_service(SERVICE, list(SERVICE_GROUPS))


def _signed(port: int, method: str, path: str, body: bytes) -> tuple[str, str, bytes, dict[str, str]]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    return method, path, body, dict(request.prepare().headers)


def service_vector(rng: random.Random, records: int) -> Request:
    body = json.dumps({"EntityRows": [{"customer_id": rng.randrange(records)}]}).encode()
    return "POST", f"/FeatureServices/{SERVICE}/OnlineFeatures", body


def signed_noop(rng: random.Random, records: int) -> Request:
    return "POST", "/bench-no-operation", json.dumps({"EntityRows": [{"customer_id": rng.randrange(records)}]}).encode()


def signed_get_record(rng: random.Random, records: int) -> Request:
    return "GET", f"/FeatureGroup/{SERVICE_GROUPS[0]}?RecordIdentifierValueAsString={rng.randrange(records)}", b""


NOOP, VECTOR = "signed no-op (404 after the signature check)", "signed service vector (3 groups x 10 features, 1 entity)"
# endpoint -> (request maker, status it answers, signed)
SERVICE_ENDPOINTS: dict[str, tuple[Callable[[random.Random, int], Request], int, bool]] = {
    "health (GET /ping, unsigned, no dispatch)": (health, 200, False),
    "signed GetRecord (1 group, 10 features)": (signed_get_record, 200, True),
    NOOP: (signed_noop, 404, True),  # measured just before the vector, each round: the ratio's pair
    VECTOR: (service_vector, 200, True),
}


def pin(server_pid: int | None) -> str:
    """The server on the first core and this process (the clients) on the others, so neither
    takes the other's core; a note for the report ('' where it cannot be done)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if server_pid is None or len(cores) < 2:
        return ""
    for task in os.listdir(f"/proc/{server_pid}/task"):  # every thread of the server, its pool's too
        os.sched_setaffinity(int(task), {cores[0]})
    os.sched_setaffinity(0, set(cores[1:]))
    return f"; the server pinned to core {cores[0]}, the clients to the other{'s' if len(cores) > 2 else ''}"


def cpu_seconds(pid: int | None) -> float:
    """A process's CPU time so far (user + system, from /proc; 0 where there is none)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, endpoint: str, clients: int, seconds: float, records: int, warmup: float = 0.5,
            pid: int | None = None) -> Result:
    """Each client loops on its own connection until the deadline; warm-up requests are not counted.
    With ``pid`` (the server's), the server's CPU time over the measured window is kept too."""
    if endpoint in SERVICE_ENDPOINTS:
        make_one, expected, signed = SERVICE_ENDPOINTS[endpoint]
        if signed:  # signed before the run, cycled through by each client
            batches = [[_signed(port, *make_one(random.Random(i * 1000 + n), records)) for n in range(PRESIGNED)]
                       for i in range(clients)]
        else:
            batches = [[(*make_one(random.Random(i), records), {})] for i in range(clients)]
    else:
        expected = 200
        batches = None
    make = ENDPOINTS.get(endpoint)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def client(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        n = 0
        while True:
            now = time.perf_counter()
            if now >= window["end"]:
                break
            if batches is not None:
                method, path, body, headers = batches[i][n % len(batches[i])]
                n += 1
            else:
                method, path, body = make(rng, records)
                headers = {"Content-Type": "application/json"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            done = time.perf_counter()
            if now >= window["begin"]:
                latencies[i].append(done - now)
                errors[i] += response.status != expected
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    window["begin"] = time.perf_counter() + warmup
    window["end"] = window["begin"] + seconds
    start.wait()
    time.sleep(max(0.0, window["begin"] - time.perf_counter()))
    cpu = cpu_seconds(pid)
    time.sleep(max(0.0, window["end"] - time.perf_counter()))
    cpu = cpu_seconds(pid) - cpu
    for t in threads:
        t.join()
    samples = sorted(x for per_client in latencies for x in per_client)

    def percentile(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000 if samples else float("nan")

    return Result(endpoint, clients, len(samples), sum(errors), seconds, percentile(0.50), percentile(0.99), cpu)


def table(results: list[Result]) -> str:
    lines = ["| clients | endpoint | req/s | vs health | p50 ms | p99 ms | errors |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    baseline = {r.clients: r.per_second for r in results if r.endpoint.startswith("health")}
    noop = {r.clients: r.per_second for r in results if r.endpoint.startswith("signed no-op")}
    if noop:
        lines[0] += " vs signed no-op |"
        lines[1] += "---:|"
    for r in results:
        share = r.per_second / baseline[r.clients] if baseline.get(r.clients) else float("nan")
        lines.append(f"| {r.clients} | {r.endpoint} | {r.per_second:,.0f} | {share:.0%} | {r.p50_ms:.2f} | "
                     f"{r.p99_ms:.2f} | {r.errors} |" + (f" {r.per_second / noop[r.clients]:.0%} |" if noop else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per endpoint and client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--records", type=int, default=10_000, help="customers seeded before the run")
    parser.add_argument("--postgres", action="store_true", help="the store's tables on a PostgreSQL server")
    parser.add_argument("--services", action="store_true",
                        help="a feature service's vector vs a signed no-op, on a server with an access key")
    parser.add_argument("--rounds", type=int, default=9, help="--services: rounds over the endpoints (median kept)")
    parser.add_argument("--pin", action="store_true",
                        help="--services: the server on one core, the clients on the others (no contention)")
    args = parser.parse_args(argv)
    if args.services:
        return main_services(args)

    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp, contextlib.ExitStack() as stack:
        registry = None
        if args.postgres:
            sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
            from servers.postgres import PostgresServer

            registry = stack.enter_context(PostgresServer()).url
        store = os.path.join(tmp, "store")
        seed(store, args.records, registry)
        load_before = os.getloadavg()
        results = []
        with LocalServer(store, workers=args.workers) as server:
            for clients in args.clients:
                for endpoint in ENDPOINTS:
                    results.append(measure(server.port, endpoint, clients, args.seconds, args.records))
        load_after = os.getloadavg()
    where = "tables on PostgreSQL" if args.postgres else "tables in SQLite"
    print(f"featurestore serve, {args.workers} worker(s), {where}, loopback, {os.cpu_count()} cores shared with the clients "
          f"and any other processes (1-min load {load_before[0]:.1f} before, {load_after[0]:.1f} after); "
          f"{args.seconds:g} s per row after a 0.5 s warm-up; {args.records:,} records seeded\n")
    print(table(results))
    if any(r.errors for r in results):
        sys.exit("Some requests failed: see the errors column")


def main_services(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        access = os.path.join(tmp, "access.yaml")
        with open(access, "w", encoding="utf-8") as fh:
            fh.write(f"users:\n  - name: root\n    roles: [{{role: admin}}]\nkeys:\n  - access_key_id: {KEY_ID}\n"
                     f"    secret_access_key: {SECRET}\n    roles: [{{role: admin}}]\n")
        store = os.path.join(tmp, "store")
        seed_services(store, args.records, access)
        load_before = os.getloadavg()
        results, ratios, costs = [], {}, {}
        with LocalServer(store, keys_path=access, workers=args.workers) as server:
            pinned = pin(server.pid) if args.pin else ""
            for clients in args.clients:
                # Rounds over every endpoint in turn, each endpoint's median round kept: a machine
                # that speeds up or slows down during the run moves every endpoint alike.
                rounds = [[measure(server.port, endpoint, clients, args.seconds, args.records, pid=server.pid)
                           for endpoint in SERVICE_ENDPOINTS] for _ in range(args.rounds)]
                for per_endpoint in zip(*rounds):
                    results.append(sorted(per_endpoint, key=lambda r: r.per_second)[len(per_endpoint) // 2])
                    results[-1].errors = sum(r.errors for r in per_endpoint)
                noop, vector = (list(SERVICE_ENDPOINTS).index(e) for e in (NOOP, VECTOR))
                ratios[clients] = sorted(r[vector].per_second / r[noop].per_second for r in rounds)
                costs[clients] = [sorted(r[i].server_cpu / max(r[i].requests, 1) * 1e6 for r in rounds)
                                  for i in (noop, vector)]
        load_after = os.getloadavg()
    print(f"featurestore serve --keys, {args.workers} worker(s), tables in SQLite, loopback, {os.cpu_count()} cores "
          f"shared with the clients and any other processes{pinned} (1-min load {load_before[0]:.1f} before, {load_after[0]:.1f} "
          f"after); {args.rounds} rounds over the endpoints in turn, {args.seconds:g} s each after a 0.5 s warm-up, "
          f"each endpoint's median round shown; {args.records:,} records per group\n")
    print(table(results))
    for clients, each in ratios.items():
        print(f"\n{clients} clients, the service vector's requests/s over the no-op's, round by round (same "
              f"minute): median {each[len(each) // 2]:.0%}, " + ", ".join(f"{r:.0%}" for r in each))
        noop_us, vector_us = (c[len(c) // 2] for c in costs[clients])
        print(f"{clients} clients, the server's CPU per request (median round): no-op {noop_us:,.0f} us, service "
              f"vector {vector_us:,.0f} us ({noop_us / vector_us:.0%}: the rate the server alone would allow)")
    if any(r.errors for r in results):
        sys.exit("Some requests failed: see the errors column")


if __name__ == "__main__":
    main()
