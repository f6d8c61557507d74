"""Several daemons, one schedule (#12): the nodes of a PostgreSQL ledger.

Every `bot.py run` on PostgreSQL is a node (``host:pid:token``) with a row in ``nodes`` and
its own session (``civicpost node <token>``) for the heartbeat, claims and leadership, so
worker threads busy on the ledger's connection never delay a heartbeat.  The rules:

- **Sharing out.** Each delivery has one owner among the live nodes (``owner``: rendezvous
  hashing), which tries it at its time; the others back it up ``backup_seconds`` later.
- **Claims.** A due delivery is claimed by one node in one compare-and-set: ``claimed_by``
  and ``lease_until``, in epoch seconds by the *database's* clock (``clock_timestamp()``),
  never a host's.  A first attempt that is to go out is claimed in its very move to
  `publishing` (``Ledger.transition(holder=, claim=)``, Publisher._claim_with_publishing);
  anything else is claimed first (``claim``: ``FOR UPDATE SKIP LOCKED``, a node that meets
  a row another is claiming passes over it).  The heartbeat renews the leases of the rows a
  node holds; a lease that has run out is never renewed (its row may be another node's).
- **Fencing.** Every state change a node makes to a claimed row checks, in the same
  transaction, that it still holds the claim with a live lease (``Ledger.transition(...,
  holder=node)``).  Before every network call that could make a post, ``may_send`` checks
  locally (the monotonic clock: last renewal + lease - margin), so a node cut off from the
  database, or stopped (SIGSTOP), stops posting before its lease can pass to another.
- **Takeover.** A row left in `publishing` whose lease ran out (its node died) is claimed
  by another node and recovered by today's rules (``NetworkCheck.recover``), never resent
  blindly.
- **Leader.** One node re-plans from content: the holder of a session advisory lock,
  which the server frees when the holder's session ends.  A stopped process keeps its
  session, so a node whose heartbeat is older than the lease has its sessions ended
  (``pg_terminate_backend``, allowed for the same role); its writes as leader are fenced
  by ``check_leader`` inside the plan's transaction.  The leader stores each open
  delivery's rendered variant (``deliveries.variant``, see ``stored_variant``) so a node
  whose checkout lags a commit publishes exactly what the leader rendered; a row that comes
  into the horizon unchanged gets one on the leader's next idle pass
  (``plan_actions.lacking_variants``).  A node lacking the item version, or a media file the
  variant names, waits for its checkout (``await_version``).  The leader alone runs the
  blocked alerts and the unschedule sweep, fenced by ``check_leader`` first.
- **Leases by name** (``lease``): the inbox polls each channel on one node only.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from .errors import BotError, ConfigError, LedgerError

log = logging.getLogger("civicpost.cluster")
LEADER_LOCK = 0x63697672                # pg_try_advisory_lock key (session): the node that re-plans
NOW = "extract(epoch FROM clock_timestamp())"      # the database's clock, at the moment of the statement
CLAIMABLE = ("scheduled", "retrying")
PRESUMED_DEAD = "no heartbeat for over"          # how nodes.stop_reason begins when another node ended its sessions


class Fenced(BotError):
    """This node's claim (or leadership) may have passed to another: it must not act."""


@dataclass(frozen=True)
class Settings:
    lease: float = 60.0          # [cluster] lease_seconds
    heartbeat: float = 2.0       # [cluster] heartbeat_seconds
    margin: float = 35.0         # [cluster] send_margin_seconds: > the longest network call (30 s)
    backup: float = 5.0          # [cluster] backup_seconds: how long a node leaves another live node's delivery


def settings(config) -> Settings:
    """`[cluster]` in config.toml; one-line errors naming the key and the fix."""
    raw = config.section("cluster")
    values = {}
    for key, name in (("lease", "lease_seconds"), ("heartbeat", "heartbeat_seconds"), ("margin", "send_margin_seconds"),
                      ("backup", "backup_seconds")):
        value = raw.get(name, getattr(Settings, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"[cluster] {name} = {value!r} must be a positive number of seconds", str(config.path))
        values[key] = float(value)
    found = Settings(**values)
    if found.margin + 2 * found.heartbeat >= found.lease:
        raise ConfigError(f"[cluster] lease_seconds = {found.lease:g} must be more than send_margin_seconds + two "
                          f"heartbeats ({found.margin + 2 * found.heartbeat:g}): raise lease_seconds",
                          str(config.path))
    return found


class Cluster:
    """This daemon as one node of several on a PostgreSQL ledger."""

    def __init__(self, ledger, config):
        self.ledger, self.settings = ledger, settings(config)
        self.token = secrets.token_hex(6)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.node_id = f"{self.host}:{self.pid}:{self.token}"
        self.app_name = f"civicpost node {self.token}"
        # The ledger's own session carries the token too, so a node presumed dead has every
        # session ended (a stopped one may hold the write lock mid-transaction).
        ledger.application_name = self.app_name
        ledger.db.execute("SELECT set_config('application_name', ?, false)", [self.app_name])
        self.lock = threading.RLock()
        self.conn = None
        self.backend = None                      # this node's session pid (holder of the leader lock)
        self.renewed_at: float | None = None     # monotonic time of the last renewal that landed
        # Per claimed row: when its lease was last set.  A row whose lease ran out is never
        # renewed again, so a node continued after SIGSTOP stays fenced for it even once its
        # heartbeat works again.
        self.row_renewed: dict[int, float] = {}
        # The same per named lease (``inbox:<channel>``), for ``check_lease``.
        self.lease_renewed: dict[str, float] = {}
        self.leader = False
        self.ended_at: float | None = None       # monotonic time this node learnt another had ended its sessions
        self.offset = 0.0                        # the database's clock minus ours (for job times only)
        self.working: dict[int, str] = {}        # delivery id -> what, while a thread of ours has it
        self.peers: tuple[str, ...] = (self.node_id,)    # the live nodes (by heartbeat), this one included
        self.on_takeover: Callable[[list[int]], None] | None = None
        self.on_leader: Callable[[], None] | None = None
        self.on_peers: Callable[[], None] | None = None
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    # ----- the node's own session -------------------------------------------------
    def _connect(self) -> None:
        import psycopg

        from .ledger_postgres import QUIET, connect_options
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn, self.leader = None, False     # a new session holds no lock
        conn = psycopg.connect(self.ledger.url, autocommit=True, **connect_options(self.ledger.url, False))
        # statement_timeout: a heartbeat never waits long on a lock (a stopped node's row lock,
        # say); it fails, and the next one tries again.
        conn.execute("SELECT set_config('application_name', %s, false), set_config(%s, 'on', false), "
                     "set_config('statement_timeout', %s, false)",
                     [self.app_name, QUIET, str(int(self.settings.lease * 1000 / 3))])
        self.conn, self.backend = conn, conn.info.backend_pid

    def _sql(self, sql: str, args=(), rows: bool = False):
        """One statement on the node's session (reopened if it was lost); LedgerError if not."""
        import psycopg
        from psycopg.rows import dict_row
        with self.lock:
            try:
                if self.conn is None or self.conn.closed or self.conn.broken:
                    self._connect()
                if rows:
                    with self.conn.cursor(row_factory=dict_row) as cursor:
                        cursor.execute(sql, list(args))
                        return cursor.fetchall()
                return self.conn.execute(sql, list(args))
            except psycopg.Error as exc:
                from .ledger_postgres import _first_line
                raise LedgerError(f"cluster: {_first_line(exc)}") from None

    # ----- start, beat, stop --------------------------------------------------------
    def start(self) -> None:
        self._sql(f"INSERT INTO nodes (node_id, host, pid, token, started_at, heartbeat_at, leader) VALUES "
                  f"(%s, %s, %s, %s, {NOW}, {NOW}, 0)", [self.node_id, self.host, self.pid, self.token])
        self.beat()
        self.thread = threading.Thread(target=self._run, name="cluster-heartbeat", daemon=True)
        self.thread.start()
        log.info("cluster node %s started%s", self.node_id, " as the leader" if self.leader else "")

    def _run(self) -> None:
        while not self.stop_event.wait(self.settings.heartbeat):
            try:
                self.beat()
            except LedgerError as exc:
                log.warning("cluster heartbeat failed (leases are not renewed; posting stops %gs after the last "
                            "renewal): %s", self.settings.lease - self.settings.margin, exc)
            except Exception:  # noqa: BLE001 - the heartbeat must go on
                log.exception("cluster heartbeat failed")

    def beat(self) -> None:
        """Renew this node's leases and heartbeat, try for leadership, end dead nodes'
        sessions, and take over rows whose lease ran out."""
        started = time.monotonic()
        lease = self.settings.lease
        with self.lock:
            # Rows locked in ascending id, as a batch of moves locks them (schedule/ledger_batch.py):
            # the two never wait for each other in a cycle.
            renewed = self._sql(f"UPDATE deliveries SET lease_until = {NOW} + %s WHERE id IN (SELECT id FROM deliveries "
                                f"WHERE claimed_by = %s AND lease_until >= {NOW} AND state IN ('scheduled', 'retrying', "
                                "'publishing') ORDER BY id FOR UPDATE) RETURNING id", [lease, self.node_id]).fetchall()
            self.row_renewed = {r[0]: started for r in renewed} | \
                {i: t for i, t in self.row_renewed.items() if i in self.working}
            names = self._sql(f"UPDATE leases SET lease_until = {NOW} + %s WHERE node = %s AND lease_until >= {NOW} "
                              "RETURNING name", [lease, self.node_id]).fetchall()
            self.lease_renewed = {r[0]: started for r in names}
            self.renewed_at = started            # counted from before the renewal was sent: on the safe side
            was_leader = self.leader
            if not self.leader:
                self.leader = bool(self._sql("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK]).fetchone()[0])
            doing = json.dumps([{"id": i, "what": w} for i, w in sorted(self.working.items())])
            # (``old``: the row as it was, to learn whether another node presumed this one dead)
            row = self._sql(f"UPDATE nodes SET heartbeat_at = {NOW}, leader = %s, publishing = %s, stopped_at = NULL, "
                            f"stop_reason = NULL, pid = %s FROM nodes AS old WHERE nodes.node_id = %s AND old.node_id = "
                            "nodes.node_id RETURNING nodes.heartbeat_at, old.stop_reason",
                            [int(self.leader), doing, self.pid, self.node_id]).fetchone()
            if row is None:                      # a fresh ledger under us (or a copy): register again
                self._sql(f"INSERT INTO nodes (node_id, host, pid, token, started_at, heartbeat_at, leader) VALUES "
                          f"(%s, %s, %s, %s, {NOW}, {NOW}, %s)",
                          [self.node_id, self.host, self.pid, self.token, int(self.leader)])
            else:
                self.offset = float(row[0]) - time.time()
                if (row[1] or "").startswith(PRESUMED_DEAD):
                    self.ended_at = started
                    log.warning("node %s was presumed dead by another (stopped or cut off past its lease): its "
                                "sessions were ended; it goes on as a follower", self.node_id)
            self._end_dead_nodes()
            was_peers = self.peers
            self.peers = tuple(sorted({self.node_id} | {r[0] for r in self._sql(
                f"SELECT node_id FROM nodes WHERE stopped_at IS NULL AND heartbeat_at >= {NOW} - %s",
                [self.settings.lease]).fetchall()}))
        if self.peers != was_peers and self.on_peers:
            self.on_peers()            # a node came or went: the shares moved, so the job times did
        if self.leader and not was_leader:
            log.warning("LEADER: node %s now re-plans from content", self.node_id)
            if self.on_leader:
                self.on_leader()
        if self.on_takeover:
            taken = self.take_over()
            if taken:
                self.on_takeover(taken)

    def _end_dead_nodes(self) -> None:
        """A node whose heartbeat is older than the lease is dead or stopped: end its sessions,
        so its leader lock (and any lock a stopped transaction holds) is freed."""
        for dead in self._sql(f"SELECT node_id, token, leader FROM nodes WHERE stopped_at IS NULL AND node_id <> %s "
                              f"AND heartbeat_at < {NOW} - %s", [self.node_id, self.settings.lease], rows=True):
            ended = self._sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                              [f"civicpost node {dead['token']}"]).fetchone()[0]
            self._sql(f"UPDATE nodes SET stopped_at = {NOW}, leader = 0, stop_reason = %s WHERE node_id = %s",
                      [f"{PRESUMED_DEAD} {self.settings.lease:g}s: presumed dead, {ended} session(s) ended by "
                       f"{self.node_id}", dead["node_id"]])
            log.warning("node %s%s has no heartbeat for over %gs: %d of its session(s) ended", dead["node_id"],
                        " (the leader)" if dead["leader"] else "", self.settings.lease, ended)

    def stop(self) -> None:
        """A clean stop: give up leadership, unstarted claims and named leases at once."""
        self.stop_event.set()
        self.lease_renewed = {}
        with contextlib.suppress(LedgerError):
            self._sql("UPDATE deliveries SET lease_until = NULL WHERE id IN (SELECT id FROM deliveries WHERE claimed_by "
                      "= %s AND state IN ('scheduled', 'retrying') ORDER BY id FOR UPDATE)", [self.node_id])
            self._sql("UPDATE leases SET lease_until = NULL WHERE node = %s", [self.node_id])
            self._sql(f"UPDATE nodes SET stopped_at = {NOW}, leader = 0, publishing = '[]', stop_reason = 'stopped' "
                      "WHERE node_id = %s", [self.node_id])
        with self.lock:
            if self.conn is not None:
                with contextlib.suppress(Exception):
                    self.conn.close()        # ends the session: the leader lock goes with it

    # ----- who publishes what -----------------------------------------------------------
    def owner(self, delivery_id: int) -> str:
        """The live node that publishes this delivery on time (rendezvous hashing over the
        nodes' ids, so every node computes the same owner from the same list and a node
        joining or leaving moves only its own share).  The others schedule it
        ``backup_seconds`` later, in case the owner is busy or dead: without this every
        node's job tries to claim every delivery, and the losers' tries cost as much CPU
        as a quarter of a post each (bench/burst.py).  Safety never rests on it: the claim
        decides, so two nodes that briefly disagree on the list only both try."""
        return owner_of(self.peers, delivery_id)

    def start_delay(self, delivery_id: int) -> timedelta:
        """How long after its due time this node first tries the delivery."""
        if len(self.peers) < 2 or self.owner(delivery_id) == self.node_id:
            return timedelta(0)
        return timedelta(seconds=self.settings.backup)

    # ----- claims and fencing -----------------------------------------------------------
    def may_send(self) -> bool:
        """The local half of fencing, before every network call that may post: the lease
        renewed lately enough that no other node can have it before the call is over."""
        renewed = self.renewed_at
        return renewed is not None and time.monotonic() < renewed + self.settings.lease - self.settings.margin

    def may_send_for(self, delivery_id: int) -> bool:
        renewed = self.row_renewed.get(delivery_id)
        return renewed is not None and time.monotonic() < renewed + self.settings.lease - self.settings.margin

    def check_send(self, delivery_id: int) -> None:
        """Before each call that may post: this row's lease was renewed lately enough."""
        if not self.may_send_for(delivery_id):
            raise Fenced(f"node {self.node_id} has not renewed its lease on delivery {delivery_id} for too long (cut "
                         "off from the database, or stopped): it sends nothing for it")

    def posting_hold(self, claims, delivery_id: int):
        """The publisher's ``hold`` around each part's create and record (schedule/channels/
        base.py): the read-back's claim (network_check.Claims), and the local fencing check
        before any upload, again just before the create call, and before each write of its
        request to the socket (channels/wire_fence.py)."""
        from .channels.base import before_create

        @contextlib.contextmanager
        def hold():
            self.check_send(delivery_id)
            with claims.posting(), before_create(lambda: self.check_send(delivery_id)):
                yield
        return hold

    @contextlib.contextmanager
    def holding(self, delivery_id: int, what: str = "") -> Iterator[None]:
        """A thread of this node works on this delivery (shown in status; not taken over from us)."""
        self.working[delivery_id] = what
        try:
            yield
        finally:
            self.working.pop(delivery_id, None)

    def claim(self, delivery_id: int) -> dict | None:
        """The row, claimed by this node with a fresh lease, or None when it is not due or
        another node holds it.  One statement: a compare-and-set under the row's lock."""
        if not self.may_send():
            return None
        with self.lock:                          # with the heartbeat's renewal, not between its steps
            started = time.monotonic()
            rows = self._sql(f"UPDATE deliveries SET claimed_by = %s, lease_until = {NOW} + %s WHERE id = (SELECT id "
                             "FROM deliveries WHERE id = %s AND state IN ('scheduled', 'retrying') AND (claimed_by IS "
                             f"NULL OR claimed_by = %s OR lease_until IS NULL OR lease_until < {NOW}) FOR UPDATE SKIP "
                             "LOCKED) RETURNING *", [self.node_id, self.settings.lease, delivery_id, self.node_id],
                             rows=True)
            if rows:
                self.row_renewed[delivery_id] = started
        return rows[0] if rows else None

    def take_over(self) -> list[int]:
        """Rows left in `publishing` by a node whose lease ran out (or by this node's earlier
        attempt that no thread works on any more): claimed for recovery by this node."""
        if not self.may_send():
            return []
        with self.lock:
            busy = list(self.working)
            started = time.monotonic()
            rows = self._sql(f"UPDATE deliveries SET claimed_by = %s, lease_until = {NOW} + %s WHERE id IN (SELECT id "
                             f"FROM deliveries WHERE state = 'publishing' AND (lease_until IS NULL OR lease_until < {NOW} "
                             "OR (claimed_by = %s AND NOT id = ANY(%s))) ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED) "
                             "RETURNING id", [self.node_id, self.settings.lease, self.node_id, busy], rows=True)
            for row in rows:
                self.working.setdefault(row["id"], "recovering")    # until the recovery job has it
                self.row_renewed[row["id"]] = started
        return [r["id"] for r in rows]

    def reclaim(self, delivery_id: int) -> bool:
        """This node's own `publishing` row whose lease ran out while the node was cut off from
        the database, and that no other node has taken over: its lease again, so the node
        records the outcome it holds (it knows what was sent)."""
        if not self.may_send():
            return False
        with self.lock:
            started = time.monotonic()
            rows = self._sql(f"UPDATE deliveries SET lease_until = {NOW} + %s WHERE id = %s AND state = 'publishing' "
                             "AND claimed_by = %s RETURNING id", [self.settings.lease, delivery_id, self.node_id],
                             rows=True)
            if rows:
                self.row_renewed[delivery_id] = started
        return bool(rows)

    def held_elsewhere_until(self, row: dict) -> datetime | None:
        """When another node's claim on this open row runs out (by our clock, for a job time)."""
        if row.get("claimed_by") in (None, self.node_id) or not row.get("lease_until"):
            return None
        local = float(row["lease_until"]) - self.offset
        return datetime.fromtimestamp(local, timezone.utc) if local > time.time() else None

    def lease(self, name: str) -> bool:
        """A named lease (``inbox:<channel>``): True while this node holds it."""
        if not self.may_send():
            return False
        with self.lock:
            started = time.monotonic()
            row = self._sql(f"INSERT INTO leases (name, node, lease_until) VALUES (%s, %s, {NOW} + %s) ON CONFLICT (name) "
                            "DO UPDATE SET node = excluded.node, lease_until = excluded.lease_until WHERE leases.node = "
                            f"excluded.node OR leases.lease_until IS NULL OR leases.lease_until < {NOW} RETURNING name",
                            [name, self.node_id, self.settings.lease]).fetchone()
            if row is None:
                self.lease_renewed.pop(name, None)
            else:
                self.lease_renewed[name] = started
        return row is not None

    def check_lease(self, name: str) -> None:
        """Before each write or act of work done under a named lease (the inbox's poll of a
        channel): the lease was renewed lately enough that no other node can hold it yet.  A
        node stopped (SIGSTOP) or cut off mid-poll past its lease finds it stale on waking,
        even once its heartbeat works again (a lease that ran out is never renewed)."""
        renewed = self.lease_renewed.get(name)
        if renewed is None or time.monotonic() >= renewed + self.settings.lease - self.settings.margin:
            raise Fenced(f"node {self.node_id} has not renewed its lease {name!r} for too long (stopped, or cut off "
                         "from the database): another node may hold it, so this node stops that work here")

    def deposed(self) -> bool:
        """Another node presumed this one dead (stopped or cut off past its lease) and ended its
        sessions: a ledger error on waking is that, not a ledger in trouble (daemon.py says it
        in the log, without an alert).  Asked on the node's session, reopened if it was ended."""
        for _ in range(2):                       # the first statement on an ended session fails
            try:
                row = self._sql("SELECT stop_reason FROM nodes WHERE node_id = %s", [self.node_id]).fetchone()
                break
            except LedgerError:
                continue
        else:
            row = None
        if row is not None and (row[0] or "").startswith(PRESUMED_DEAD):
            return True
        return self.ended_at is not None and time.monotonic() - self.ended_at < self.settings.lease

    def check_leader(self) -> None:
        """Inside the plan's transaction, on the ledger's session: this node's own session
        still holds the leader lock.  A leader stopped past its lease had its session ended,
        and a follower holds the lock now: its plan is refused, nothing of it written."""
        held = self.ledger.db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                                      "pid = ? AND classid = 0 AND objid = ? AND objsubid = 1",
                                      [self.backend, LEADER_LOCK]).fetchone()[0]
        if not (self.leader and held and self.may_send()):
            self.leader = False
            raise Fenced(f"node {self.node_id} is no longer the leader: its re-plan is dropped")


def owner_of(peers, delivery_id: int) -> str:
    """Rendezvous (highest random weight) hashing: the peer whose hash with the delivery is
    highest.  blake2b, not hash(): the same answer in every process."""
    return max(peers, key=lambda node: hashlib.blake2b(f"{node}/{delivery_id}".encode(), digest_size=8).digest())


# ----- what status shows -------------------------------------------------------------
def nodes(ledger, tz, lease: float = Settings.lease) -> list[dict]:
    """Every node that is running or stopped within the last hour, newest first."""
    if "nodes" not in ledger.db.table_names():
        return []
    now = _db_now(ledger)
    rows = ledger._query("SELECT * FROM nodes WHERE stopped_at IS NULL OR stopped_at > ? ORDER BY started_at DESC",
                         [now - 3600])

    def local(epoch):
        return None if epoch is None else datetime.fromtimestamp(float(epoch), timezone.utc).astimezone(tz) \
            .replace(microsecond=0).isoformat()

    out = []
    for row in rows:
        age = now - float(row["heartbeat_at"] or 0)
        state = "stopped" if row["stopped_at"] else ("running" if age <= lease else "no heartbeat")
        out.append({"id": row["node_id"], "host": row["host"], "pid": row["pid"], "state": state,
                    "started_at": local(row["started_at"]), "heartbeat_at": local(row["heartbeat_at"]),
                    "heartbeat_age_seconds": round(age, 1), "leader": bool(row["leader"]) and state == "running",
                    "publishing": json.loads(row["publishing"] or "[]") if state == "running" else [],
                    "stop_reason": row["stop_reason"]})
    return out


def _db_now(ledger) -> float:
    if hasattr(ledger, "url"):
        return float(ledger.db.execute(f"SELECT {NOW}").fetchone()[0])
    return time.time()
