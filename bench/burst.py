"""Benchmark: the burst (#12).  1,000 deliveries across 250 accounts, all due in the same second.

    .venv/bin/python bench/burst.py                       # sqlite:1, postgresql:1, postgresql:2, postgresql:3
    .venv/bin/python bench/burst.py --runs postgresql:2 --repeat 3
    .venv/bin/python bench/burst.py --claims-only         # the claim-latency figures alone

250 channels (accounts): X, Mastodon, LinkedIn and Facebook in turn, each channel its own
``[channels.NAME]`` table and credentials, pointing at the project's local test servers
(tests/servers/, answering each request after ``--latency`` seconds, 150 ms by default).
1,000 items, item k on channel k mod 250, each planned for the same second.  The daemons
are real ``bot.py run`` child processes, each in its own project folder (its own config.toml
and content checkout, as on separate hosts) sharing one ledger: SQLite (one daemon; a
second is refused by the ledger lock) or a real PostgreSQL 15 started here as in
tests/postgres_server.py (as ``nobody`` when run as root), with fsync ON by default: a
council's server is durable, and SQLite here runs ``synchronous=FULL``.

Figures, each run:
- lateness at the server: planned time to the moment the post request reaches its test
  server, p50 / p99 / max.  Target (#12): p99 < 1.5 s with 2 daemons.
- CPU per delivery: the daemons' own CPU (user + system, from /proc/PID/stat, all threads)
  from one second before the burst until every delivery is recorded ``posted``, over 1,000.
  The PostgreSQL server's CPU (all its processes) in the same window is shown apart.
- due-to-claim: planned time to the ``publishing`` event's time in the ledger (the row
  claimed and committed, before the network call), p50 / p99.
- claim latency (``--claims``, on by default): one claim alone (the move to ``publishing``,
  the call the publisher makes, timed around the call; median of 50), and under a burst of
  1,000 claims from 100 threads on one connection (the daemon's worker pool on its ledger),
  and on PostgreSQL also from 3 connections (3 daemons).  Timed in this process, apart from
  the daemon runs.

Figures on this 2-core machine (2026-11-26; every run and its load in bench/README.md).
Side by side at the end of session 6 (the machine in a slow state), before -> after:
SQLite 5.09 -> 3.8-4.1 ms per delivery, p99 5.3 -> 4.0-4.2 s; PostgreSQL 1 daemon 6.13 (+2.27
server) -> 4.98 (+1.57) ms, p99 8.4 -> 5.2 s; 2 daemons 8.76 (+3.20) -> 5.32 (+1.76) ms,
p99 9.0 -> 4.3 s; 3 daemons 4.52 (+1.67) ms, p99 3.6 s.  In the machine's faster state:
SQLite 2.1 ms (p99 2.2 s), PostgreSQL 1.9 ms (+0.7), 2 daemons 2.65 ms (+0.9), p99 2.9 s.
Session 9 (main after the young generation's threshold), 2 daemons: p99 under 1.5 s in 19
of 37 runs (median 1.49 s, 1.5-3.1 ms per delivery as the machine drifts); with each daemon
on its own CPU (``--pin``) in 14 of 15 (median 1.25 s).  1 daemon 2.7 ms, p99 2.7 s; 3
daemons 2.4 ms, p99 1.55 s.

A run with a second daemon that the ledger refuses (today: PostgreSQL until several
daemons may share one ledger) is reported as refused, with the daemon's own message.

The machine's load average (``uptime``) is printed with every figure: the benchmark's
own test servers run in this process and share the cores with the daemons.
``--pin`` starts each daemon on its own CPU (daemon k on CPU k mod N, with util-linux's
``taskset``), as ``CPUAffinity=`` in each node's systemd unit would (docs/admin.md).
``--profile DIR`` samples each daemon with py-spy (``pip install py-spy``) through the burst
into DIR/<pid>.txt (collapsed stacks; ``bench/burst.py --top DIR/<pid>.txt`` sums them).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.servers import channel_tables, credentials_env, graph, linkedin, mastodon, x  # noqa: E402

NETWORKS = ("x", "mastodon", "linkedin", "facebook")
POST_PATHS = {"x": r"^/2/tweets$", "mastodon": r"^/api/v1/statuses$", "linkedin": r"^/rest/posts$",
              "facebook": r"/feed$"}
TICKS = os.sysconf("SC_CLK_TCK")
TZ = ZoneInfo("Europe/London")


# ----- measuring ----------------------------------------------------------------------
def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (all its threads); with ``children``, also what its
    reaped children used (the PostgreSQL postmaster's finished backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICKS


def main_thread_seconds() -> float:
    """This process's main thread's CPU: the run's own polling, apart from the test servers'
    threads (the rest of this process's CPU)."""
    fields = Path(f"/proc/self/task/{threading.main_thread().native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def system_seconds(pid: int) -> float:
    """The kernel's part of a process's CPU (socket calls, futex waits of threads handing
    the GIL to each other)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12]) / TICKS
    except FileNotFoundError:
        return 0.0


def tree_cpu(root_pid: int) -> float:
    """A process, its reaped children and its live children (PostgreSQL: postmaster + backends)."""
    total = cpu_seconds(root_pid, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == root_pid:
            total += cpu_seconds(int(stat.parent.name))
    return total


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def ms(value: float) -> str:
    return f"{value * 1000:6.0f} ms"


# ----- a real PostgreSQL -----------------------------------------------------------------
def start_postgres(durable: bool):
    from tests.postgres_server import PostgresServer

    class BenchPostgres(PostgresServer):
        def start(self) -> "BenchPostgres":
            pwfile = self.root / "pw"
            pwfile.write_text(self.password)
            if self.as_user:
                os.chown(pwfile, 65534, 65534)
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--pwfile", str(pwfile),
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
            pwfile.unlink()
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=50"
            if not durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                      "-w", "-t", "60", "start")
            self.postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            return self

    from tests import postgres_server
    server = BenchPostgres()
    server.user, server.password = postgres_server.USER, postgres_server.PASSWORD
    return server.start()


# ----- one project folder per daemon -----------------------------------------------------
def channel_names(accounts: int) -> list[str]:
    return [f"{NETWORKS[i % len(NETWORKS)]}-{i:03d}" for i in range(accounts)]


def write_node(folder: Path, servers: dict, names: list[str], deliveries: int, when: datetime,
               database: str | None, inbox: bool, workers: int = 100) -> None:
    (folder / "content").mkdir(parents=True)
    shutil.copytree(ROOT / "templates", folder / "templates")
    tables = "".join(channel_tables({name.split("-")[0]: servers[name.split("-")[0]].url})
                     .replace(f"[channels.{name.split('-')[0]}]", f"[channels.{name}]") for name in names)
    (folder / "config.toml").write_text(
        'timezone = "Europe/London"\n'
        f"default_channels = {json.dumps(names[:1])}\n"
        + (f'[database]\nurl = "{database}"\n' if database else "")
        + "[content]\nrescan_seconds = 600\n"
        + ("" if inbox else "[inbox]\nenabled = false\n")
        + f"[schedule]\nper_channel_concurrency = 25\nworkers = {workers}\n" + tables)
    for k in range(deliveries):
        (folder / "content" / f"notice-{k}.md").write_text(
            f"---\npublish_at: {when.isoformat()}\nchannels: [{names[k % len(names)]}]\n---\n"
            f"Notice {k}: the library closes early today.\n")


def credentials(names: list[str]) -> dict[str, str]:
    env = {}
    for name in names:
        network = name.split("-")[0]
        prefix, ours = f"CIVICPOST_{network.upper()}_", "CIVICPOST_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"
        env.update({ours + key[len(prefix):]: value for key, value in credentials_env(network).items()})
    return env


# ----- one run ------------------------------------------------------------------------
def ended(procs: list[subprocess.Popen], tmp: Path) -> list[str]:
    """Each daemon that has exited: its number, exit code and the last line of its log."""
    return [f"daemon {i + 1} exited ({p.returncode}): " + ((tmp / f"node{i}" / "daemon.log").read_text()
            .strip().splitlines() or [""])[-1] for i, p in enumerate(procs) if p.poll() is not None]


def run(engine: str, daemons: int, args, pg) -> dict:
    servers = {"x": x.Server(latency=args.latency), "mastodon": mastodon.Server(latency=args.latency),
               "linkedin": linkedin.Server(latency=args.latency), "facebook": graph.Server(latency=args.latency)}
    for server in servers.values():
        server.start()
    tmp = Path(tempfile.mkdtemp(prefix="civicpost-burst-"))
    procs: list[subprocess.Popen] = []
    result: dict = {"engine": engine, "daemons": daemons, "pinned": bool(args.pin), "load_before": load()}
    try:
        names = channel_names(args.accounts)
        # One ledger for every daemon: PostgreSQL's, or one SQLite file (whose lock refuses a
        # second daemon, as on one host); not a ledger per project folder.
        url = pg.new_database() if engine == "postgresql" else str(tmp / "civicpost.db")
        when = (datetime.now(timezone.utc) + timedelta(seconds=args.lead)).replace(microsecond=0)
        env = {**os.environ, **credentials(names), "PGPASSWORD": getattr(pg, "password", "")}
        env.pop("NOTIFY_SOCKET", None)
        for node in range(daemons):
            folder = tmp / f"node{node}"
            write_node(folder, servers, names, args.deliveries, when, url, args.inbox, args.workers)
            command = [sys.executable, str(ROOT / "bot.py"), "--config", str(folder / "config.toml"), "run"]
            if args.pin:          # as systemd's CPUAffinity= would (docs/admin.md): daemon k on CPU k mod N
                command = ["taskset", "--cpu-list", str(node % os.cpu_count())] + command
            procs.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(folder / "daemon.log", "w")))
            time.sleep(0.5)
        # Until one second before the burst: the daemons start and plan.
        time.sleep(max(0.0, when.timestamp() - 1 - time.time()))
        refused = ended(procs, tmp)
        if refused:
            result["refused"] = refused[0]
            return result
        planned = count_rows(url)
        cpu_start = [cpu_seconds(p.pid) for p in procs]
        sys_start = [system_seconds(p.pid) for p in procs]
        spies = [subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "--gil", "-r", "250",
                                   "-d", str(int(args.spy_seconds)), "-f", "raw", "-o", str(args.profile / f"{p.pid}.txt"),
                                   "-p", str(p.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for p in procs] if args.profile else []
        pg_start = tree_cpu(pg.postmaster) if engine == "postgresql" else 0.0
        own_start = sum(os.times()[:2])          # this process: the test servers, and this loop's polling
        polling_start = main_thread_seconds()    # ... which is the main thread's
        expected = args.deliveries
        deadline = when.timestamp() + args.timeout
        while time.time() < deadline and sum(len(_posts(s, POST_PATHS[n])) for n, s in servers.items()) < expected:
            time.sleep(0.2)
        while time.time() < deadline and count_rows(url, "posted") < expected:
            time.sleep(0.2)
        finished = time.time()
        cpu_end = [cpu_seconds(p.pid) for p in procs]
        result["system_cpu"] = round(sum(system_seconds(p.pid) for p in procs) - sum(sys_start), 2)
        for spy in spies:
            spy.wait()
        pg_end = tree_cpu(pg.postmaster) if engine == "postgresql" else 0.0
        result["polling_cpu"] = main_thread_seconds() - polling_start
        result["servers_cpu"] = sum(os.times()[:2]) - own_start - result["polling_cpu"]
        result["load_after"] = load()
        lateness = [r.at - when.timestamp() for n, s in servers.items() for r in _posts(s, POST_PATHS[n])]
        claimed = claim_times(url, when)
        posted = count_rows(url, "posted")
        per_node = [round(e - s, 2) for s, e in zip(cpu_start, cpu_end)]
        result.update(planned_before=planned, requests=len(lateness), posted=posted, expected=expected,
                      lateness=lateness, due_to_claim=claimed, cpu_per_node=per_node,
                      cpu_per_delivery=sum(per_node) / max(1, posted), pg_cpu=pg_end - pg_start,
                      wall=finished - when.timestamp())
        result["doubles"] = doubles(servers)
        # A daemon that ended during the run (its CPU count stops there, so it would only
        # look idle): named, with the last line it wrote.
        result["exited"] = ended(procs, tmp)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in servers.values():
            server.stop()
        if os.environ.get("KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def doubles(servers: dict) -> int:
    """Posts made at the servers beyond one per notice (counted from what each server holds,
    not from requests: a resend that the network recognised, a Mastodon Idempotency-Key
    replay or a retry of a request that made nothing, is not a second post)."""
    made: list[str] = []
    with servers["x"].lock:
        made += [t["text"] for t in servers["x"].tweets.values()]
    with servers["mastodon"].lock:
        made += [s["content"] for s in servers["mastodon"].statuses.values()]
    with servers["linkedin"].lock:
        made += [p["commentary"] for p in servers["linkedin"].posts.values()]
    with servers["facebook"].lock:
        made += [o.get("message", "") for o in servers["facebook"].objects.values() if o["kind"] == "post"]
    notices = [m.group(1) for text in made if (m := re.search(r"Notice (\d+):", text))]
    return len(notices) - len(set(notices))


def _open(spec):
    from schedule.database import open_spec
    return open_spec(spec, TZ, readonly=True)


def count_rows(spec, state: str | None = None) -> int:
    try:
        ledger = _open(spec)
    except Exception:  # noqa: BLE001 - not there yet (the daemon is still creating it)
        return 0
    if ledger is None:
        return 0
    try:
        sql = "SELECT COUNT(*) AS n FROM deliveries" + (" WHERE state = ?" if state else "")
        return ledger._query(sql, [state] if state else [])[0]["n"]
    finally:
        ledger.close()


def claim_times(spec, when: datetime) -> list[float]:
    """Planned time to the committed move to `publishing` (the event's time), per delivery."""
    ledger = _open(spec)
    try:
        rows = ledger._query("SELECT MIN(at) AS at FROM events WHERE to_state = 'publishing' GROUP BY delivery_id")
    finally:
        ledger.close()
    return [datetime.fromisoformat(r["at"]).timestamp() - when.timestamp() for r in rows]


def _posts(server, path: str) -> list:
    return [r for r in server.calls("POST") if re.search(path, r.path)]


# ----- claim latency, apart from the daemons --------------------------------------------
def claim_latency(engine: str, pg, connections: int = 1, count: int = 1000, threads: int = 100) -> dict:
    """The move to `publishing` as the publisher makes it, timed around the call: one alone
    (median of 50), then ``count`` claims at once from ``threads`` threads over
    ``connections`` ledger connections."""
    from concurrent.futures import ThreadPoolExecutor

    from schedule.database import open_spec
    from schedule.publisher import DUE_STATES
    from schedule.network_check import SAME_KEY

    tmp = Path(tempfile.mkdtemp(prefix="civicpost-claim-"))
    spec = pg.new_database() if engine == "postgresql" else tmp / "civicpost.db"
    ledgers = [open_spec(spec, TZ) for _ in range(connections)]
    try:
        now = datetime.now(timezone.utc)
        ids = [ledgers[0].add(f"notice-{k}", f"x-{k % 250:03d}", "x", now) for k in range(count + 50)]

        def claim(ledger, delivery_id: int) -> float:
            started = time.perf_counter()
            moved = ledger.transition(delivery_id, "publishing", expect=DUE_STATES, attempts=1,
                                      text=f"Notice {delivery_id}", text_hash="x", parts_text="[]", title="",
                                      media="[]", retry_until=None, idem_key=f"civicpost-{delivery_id}",
                                      next_attempt_at=None, detail=SAME_KEY)
            assert moved
            return time.perf_counter() - started

        single = statistics.median(claim(ledgers[0], i) for i in ids[:50])
        burst_ids = ids[50:]
        with ThreadPoolExecutor(threads) as pool:
            times = list(pool.map(lambda pair: claim(ledgers[pair[0] % connections], pair[1]), enumerate(burst_ids)))
        return {"engine": engine, "connections": connections, "single": single, "p50": statistics.median(times),
                "p99": percentile(times, 0.99), "max": max(times), "load": load()}
    finally:
        for ledger in ledgers:
            ledger.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ----- the report --------------------------------------------------------------------------
def report(result: dict) -> None:
    label = f"{result['engine']:10s} {result['daemons']} daemon(s)" + (", each on its own CPU" if result.get("pinned") else "")
    if "refused" in result:
        print(f"{label}: REFUSED: {result['refused']}   [{result['load_before']}]")
        return
    late, claim = result["lateness"], result["due_to_claim"]
    print(f"{label}: {result['requests']}/{result['expected']} requests, {result['posted']} posted, "
          f"{result['doubles']} doubled, all recorded {result['wall']:.1f} s after the burst")
    if result["planned_before"] < result["expected"]:
        print(f"    NOT READY: only {result['planned_before']} deliveries were planned a second before the burst "
              "(the daemons were still starting): raise --lead")
    if late:
        print(f"    lateness     p50 {ms(statistics.median(late))}  p99 {ms(percentile(late, 0.99))}  "
              f"max {ms(max(late))}  first {ms(min(late))}")
    if claim:
        print(f"    due-to-claim p50 {ms(statistics.median(claim))}  p99 {ms(percentile(claim, 0.99))}")
    print(f"    CPU per delivery {result['cpu_per_delivery'] * 1000:.2f} ms (daemons {result['cpu_per_node']} s, "
          f"of which system {result.get('system_cpu', 0):.2f} s"
          + (f"; PostgreSQL server {result['pg_cpu']:.1f} s = {result['pg_cpu'] / max(1, result['posted']) * 1000:.2f}"
             " ms per delivery" if result["engine"] == "postgresql" else "")
          + f"; test servers {result.get('servers_cpu', 0):.2f} s, this script's polling "
            f"{result.get('polling_cpu', 0):.2f} s)")
    for exited in result.get("exited", []):
        print(f"    EXITED DURING THE RUN: {exited}")
    print(f"    [{result['load_before']} before, {result['load_after']} after]")


def top(path: Path, rows: int = 45) -> int:
    """Samples per function (inclusive and own) from py-spy's collapsed stacks (py-spy leaves
    out threads the OS sees waiting, so these are the busy ones)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]                # the first is the thread
        if not frames:
            continue
        total += int(count)
        names = [re.sub(r" \((.*?):\d+\)$", r" (\1)", f) for f in frames]
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + int(count)
        own[names[-1]] = own.get(names[-1], 0) + int(count)
    print(f"{total} busy samples")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:rows]:
        print(f"{count / total * 100:5.1f}% incl {own.get(name, 0) / total * 100:5.1f}% self  {name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="sqlite:1,postgresql:1,postgresql:2,postgresql:3",
                        help="ENGINE:DAEMONS, comma-separated (engine sqlite or postgresql)")
    parser.add_argument("--repeat", type=int, default=1, help="each run this many times")
    parser.add_argument("--accounts", type=int, default=250)
    parser.add_argument("--workers", type=int, default=100, help="each daemon's [schedule] workers")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.15, help="each test server's answer time, seconds")
    parser.add_argument("--lead", type=float, default=40, help="seconds from start to the burst (start-up, plan)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds after the burst to give up")
    parser.add_argument("--pin", action="store_true", help="each daemon on its own CPU (taskset, from util-linux), "
                        "as CPUAffinity= in its systemd unit would (docs/admin.md)")
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL without fsync (as the tests run it)")
    parser.add_argument("--inbox", action="store_true", help="leave the inbox on: it polls every account's "
                        "mentions at start-up, in the burst (off by default: the figure is publishing's)")
    parser.add_argument("--no-claims", action="store_true", help="skip the claim-latency figures")
    parser.add_argument("--claims-only", action="store_true", help="only the claim-latency figures")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--profile", type=Path, help="sample each daemon with py-spy into this folder")
    parser.add_argument("--spy-seconds", type=float, default=8, help="how long py-spy samples (--profile)")
    parser.add_argument("--top", type=Path, help="sum a --profile file by function, and stop")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # stop the daemons and PostgreSQL on the way out
    if args.top:
        return top(args.top)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    runs = [] if args.claims_only else [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs.split(",")]
    pg = None
    if args.claims_only or any(engine == "postgresql" for engine, _ in runs):
        pg = start_postgres(durable=not args.no_fsync)
        os.environ["PGPASSWORD"] = pg.password          # this process reads the ledger too
    print(f"burst: {args.deliveries} deliveries across {args.accounts} accounts in one second; test servers answer "
          f"in {args.latency * 1000:.0f} ms; {os.cpu_count()} CPUs; PostgreSQL fsync "
          f"{'off' if args.no_fsync else 'on'}; SQLite synchronous=FULL", flush=True)
    results, ok = [], True
    try:
        for _ in range(args.repeat):
            for engine, daemons in runs:
                result = run(engine, daemons, args, pg)
                report(result)
                sys.stdout.flush()
                results.append(result)
                if "refused" not in result:
                    ok &= result["posted"] == result["expected"] and result["doubles"] == 0
        if not args.no_claims:
            print("claim latency (the move to `publishing`, committed):")
            for engine, connections in [("sqlite", 1)] + ([("postgresql", 1), ("postgresql", 3)] if pg else []):
                figures = claim_latency(engine, pg, connections)
                results.append({"claims": figures})
                print(f"    {engine:10s} one alone {figures['single'] * 1000:5.2f} ms;  1,000 at once from 100 threads on "
                      f"{connections} connection(s): p50 {ms(figures['p50'])}  p99 {ms(figures['p99'])}  "
                      f"max {ms(figures['max'])}   [{figures['load']}]", flush=True)
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
