"""The PostgreSQL ledger's pool of sessions (psycopg_pool), for a daemon's worker threads (#12).

A statement outside any transaction (a one-statement move, a plain read) that finds the
ledger's own connection busy with another thread runs on a pooled session instead, so the
worker threads' round trips overlap rather than queue behind one lock; the pool opens on
the first such contention (a command-line use never opens one).  Transactions stay on the
ledger's own connection under its lock.  Every pooled session carries the node's
``application_name`` (a node presumed dead has all its sessions ended by that name,
schedule/cluster.py), and its backend pid is one of the ledger's own (its NOTIFYs are not
news to ``data_version``).
"""
from __future__ import annotations

import contextlib
import threading

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import LedgerError

# Pooled sessions per daemon, beside the ledger's own: the round trips of this many worker
# threads overlap (the server has the same 2 cores to answer them with).
POOL_SIZE = 4
POOL_WAIT = 15                          # seconds a statement waits for a pooled session (a server away)


class _PooledConnection(psycopg.Connection):
    """A pool's session: it keeps its dict-row cursor, and forgets its backend pid in the
    ledger's set of own sessions when closed (a pid a later session elsewhere may reuse)."""

    rows_cursor: psycopg.Cursor | None = None
    own_pids: set | None = None
    own_pid: int = 0

    def close(self) -> None:
        if self.own_pids is not None:
            self.own_pids.discard(self.own_pid)
        super().close()


class PooledSessions:
    """The pool half of ``PostgresLedger`` (which gives ``url``, ``readonly``, ``lock``,
    ``depth`` and ``_rows_cursor``)."""

    pool: ConnectionPool | None = None

    def _init_pool(self) -> None:
        self.pool = None
        self.pool_lock = threading.Lock()
        self.pool_pids: set[int] = set()      # the pool's sessions: their NOTIFYs are ours too
        from .ledger_batch import MoveBatches
        self.move_batches = MoveBatches(self)  # quiet moves' group commit, on a session of its own

    @property
    def application_name(self) -> str | None:
        return getattr(self, "_application_name", None)

    @application_name.setter
    def application_name(self, value: str | None) -> None:
        # A cluster node names its sessions after its token (schedule/cluster.py ends a
        # presumed-dead node's sessions by that name): a pool opened before is closed, so
        # every pooled session carries the name too.
        self._application_name = value
        self._close_pool()

    def _pooled(self) -> ConnectionPool:
        with self.pool_lock:
            if self.pool is None:
                from .ledger_postgres import connect_options
                kwargs = {**connect_options(self.url, self.readonly), "autocommit": True}
                if self.application_name:
                    kwargs["application_name"] = self.application_name
                pool = ConnectionPool(self.url, kwargs=kwargs, min_size=POOL_SIZE, max_size=POOL_SIZE,
                                      timeout=POOL_WAIT, connection_class=_PooledConnection,
                                      configure=self._configure_pooled, name="civicpost-ledger", open=False)
                pool.open(wait=False)
                self.pool = pool
            return self.pool

    def _configure_pooled(self, conn: _PooledConnection) -> None:
        conn.own_pid, conn.own_pids = conn.info.backend_pid, self.pool_pids
        self.pool_pids.add(conn.own_pid)

    def _close_pool(self) -> None:
        with self.pool_lock:
            pool, self.pool = self.pool, None
        self.move_batches.close()
        if pool is not None:
            pool.close()

    def close(self) -> None:
        self._close_pool()
        super().close()

    @contextlib.contextmanager
    def _session(self):
        """The connection for one statement, with the dict-row cursor to run it on: the
        ledger's own (under its lock) inside a transaction, for a read-only ledger, or when
        no other thread is using it; else a pooled session (autocommit: the statement is
        its own transaction; a move takes the write lock inside it, as on the own
        connection)."""
        if getattr(self.depth, "value", 0) or self.readonly:
            own = self.lock.acquire()
        else:
            own = self.lock.acquire(blocking=False)
        if own:
            try:
                yield self._rows_cursor()
            finally:
                self.lock.release()
            return
        try:
            with self._pooled().connection() as conn:
                if conn.rows_cursor is None:
                    conn.rows_cursor = conn.cursor(row_factory=dict_row)
                yield conn.rows_cursor
        except PoolTimeout as exc:
            from .ledger_postgres import _first_line
            raise LedgerError(f"ledger {self.url}: cannot connect ({_first_line(exc)}): is the database "
                              "reachable?") from None
        except psycopg.OperationalError:
            # The server dropped the pool's sessions (a restart, a failover): the statement
            # that met it failed, and only it: have the pool check the others now.
            pool = self.pool
            if pool is not None:
                with contextlib.suppress(Exception):
                    pool.check()
            raise

