"""Time of one event claim (claim + complete, what every Slack delivery costs before its ack)
on the SQLite state file and on PostgreSQL, interleaved in one run so the ratio is fair.

PostgreSQL is a real server started here (tests/servers.py: the pgserver wheel's binaries,
as an unprivileged user under root) on loopback, durable (fsync on, as in production; the
test suite turns it off); a network hop to a real database server adds its round trips on
top. SQLite is Tidings' default file (WAL, synchronous FULL: each commit waits for the disk).

    .venv/bin/python bench/bench_claims.py [--claims 300] [--rounds 5] [--json]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_parser, machine
from core.runtime.state import StateStore
from tests.servers import start_postgres


def claim_times(store: StateStore, count: int) -> list[float]:
    times = []
    for _ in range(count):
        key = f"slack:event:Ev{uuid.uuid4().hex}"
        started = time.perf_counter()
        assert store.claim(key)
        store.complete(key)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--claims", type=int, default=300, help="claims per backend per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = start_postgres(durable=True)
    folder = Path(tempfile.mkdtemp(prefix="tidings-bench-claims-"))
    try:
        stores = {"sqlite": StateStore(folder / "state.sqlite3"), "postgresql": StateStore(server.url)}
        for store in stores.values():
            claim_times(store, 20)  # warm up: connections, plans
        samples: dict[str, list[float]] = {name: [] for name in stores}
        for _ in range(args.rounds):  # interleaved: the machine's noise hits both
            for name, store in stores.items():
                samples[name] += claim_times(store, args.claims)
        for store in stores.values():
            store.close()
    finally:
        server.stop()
    result: dict[str, object] = {"claims_per_backend": args.claims * args.rounds, "machine": machine()}
    for name, values in samples.items():
        values.sort()
        result[name] = {
            "p50_ms": round(statistics.median(values) * 1000, 3),
            "p99_ms": round(values[int(0.99 * (len(values) - 1))] * 1000, 3),
        }
    ratio = result["postgresql"]["p50_ms"] / result["sqlite"]["p50_ms"]  # type: ignore[index]
    result["p50_ratio_postgresql_to_sqlite"] = round(ratio, 2)
    if args.json:
        print(json.dumps(result))
    else:
        for name in samples:
            figures = result[name]
            print(f"{name:>10}: claim + complete p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")  # type: ignore[index]
        print(f"PostgreSQL / SQLite (p50): {ratio:.2f}x over {result['claims_per_backend']} claims each, {result['machine']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
