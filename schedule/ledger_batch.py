"""Group commit of a node's quiet moves on PostgreSQL (#12, the burst).

In the burst a daemon's worker threads each make two one-statement moves per delivery (to
`publishing` with the claim, to `posted` with the last part).  Alone, each was its own
autocommit transaction on a pooled session: a round trip, a commit and a WAL flush with
fsync each.  Measured over a 2-daemon burst (perf, the server's processes only), commits
and their WAL flushes were 17% of PostgreSQL's CPU and the round trips' reads and writes
9%; handing out pooled sessions was 8% of the daemon's.

Here concurrent callers' moves share one transaction on one session of their own
(leader/follower): the first caller that finds no batch in flight takes everything queued,
sends it in one pipeline (BEGIN, the moves, COMMIT: one round trip) and answers each
caller; callers that queued meanwhile wait, and the first of them leads the next batch.

What each move keeps, as alone:
- its own compare-and-set and fencing (its statement is unchanged: ``_move_sql``), judged
  against the row locked inside the batch's transaction;
- "moved" only after the COMMIT succeeded: a caller learns it before its network call, so
  the `publishing` state is committed before the post is sent, always;
- any statement error rolls the whole batch back (nothing of it is written) and every move
  of it is run again alone, so each caller gets the answer it would have got alone; a lost
  connection gives every caller of the batch the LedgerError it would have got alone;
- deadlocks: the batch's first statement takes the shared write lock (as every move does:
  transactions, which take it exclusively, wait for the batch), and the moves run in
  ascending delivery id, as the heartbeat's renewal locks its rows (schedule/cluster.py), so
  two batches, or a batch and a renewal, never wait for each other in a cycle.

Only quiet moves (``QUIET_MOVES``, outside a transaction) are batched: ``set_config(...,
true)`` lasts to the end of the transaction, which here is the batch's, so a batch must be
quiet throughout.
"""
from __future__ import annotations

import threading

import psycopg
from psycopg.rows import dict_row

from .errors import LedgerError


class _Move:
    __slots__ = ("delivery_id", "sql", "args", "done", "lead", "rows", "error")

    def __init__(self, delivery_id: int, sql: str, args: list):
        self.delivery_id, self.sql, self.args = delivery_id, sql, args
        # Held until the move is answered (or its caller is to lead): the caller waits in
        # ``acquire`` and is woken by one ``release``.  A bare lock, not an Event: Event's
        # Condition (a waiter lock made per wait, Python-level bookkeeping on both sides)
        # was 8-10% of the daemon's GIL-holding time in the burst (py-spy).
        self.done = threading.Lock()
        self.done.acquire()
        self.lead = False                 # woken to lead the next batch, not answered
        self.rows: list[dict] | None = None
        self.error: BaseException | None = None

    def answer(self) -> list[dict]:
        if self.error is not None:
            raise self.error
        return self.rows or []


class MoveBatches:
    """One ledger's group commit of quiet moves, on one session of its own."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.lock = threading.Lock()
        self.queue: list[_Move] = []
        self.leading = False              # a batch is being run (by a leader thread)
        self.conn: psycopg.Connection | None = None
        self.pid = 0
        self.batches = self.moves = 0     # counted (tests, and the bench's curiosity)
        self.failed = 0                   # batches that failed (each move then answered alone)

    def run(self, delivery_id: int, sql: str, args: list) -> list[dict]:
        """The move's rows (as ``PostgresLedger._statement`` gives them), once committed."""
        move = _Move(delivery_id, sql, args)
        with self.lock:
            self.queue.append(move)
            lead = not self.leading
            self.leading = True
        if not lead:
            move.done.acquire()
            if not move.lead:
                return move.answer()
        with self.lock:
            batch, self.queue = self.queue, []
        try:
            self._run(batch)
        except BaseException as exc:      # never leave a caller waiting
            for waiting in batch:
                if waiting.rows is None and waiting.error is None:
                    waiting.error = exc if isinstance(exc, LedgerError) else LedgerError(
                        f"ledger {self.ledger.url}: {type(exc).__name__}")
            raise
        finally:
            with self.lock:
                if self.queue:            # hand the lead to the first caller that queued meanwhile
                    self.queue[0].lead = True
                    self.queue[0].done.release()
                else:
                    self.leading = False
            for answered in batch:
                if answered is not move:
                    answered.done.release()
        return move.answer()

    def _run(self, batch: list[_Move]) -> None:
        from .ledger_postgres import _first_line, _lost
        batch.sort(key=lambda m: m.delivery_id)       # ascending: the order every batch locks rows in
        self.batches += 1
        self.moves += len(batch)
        try:
            if len(batch) == 1:       # alone: its own autocommit statement, as without batches
                batch[0].rows = self.ledger._statement(batch[0].sql, batch[0].args)
                return
            conn = self._connection()
            cursors = []
            with conn.pipeline():
                conn.execute("BEGIN")
                for move in batch:
                    cursor = conn.cursor(row_factory=dict_row)
                    cursor.execute(move.sql, move.args, prepare=True)
                    cursors.append(cursor)
                conn.execute("COMMIT")
            # The pipeline's end read every result: no error, so the COMMIT succeeded.
            for move, cursor in zip(batch, cursors):
                move.rows = cursor.fetchall()
                cursor.close()
        except psycopg.Error as exc:
            self.failed += 1
            for move in batch:
                move.rows = None
            conn = self.conn
            if conn is not None and not conn.closed and not conn.broken \
                    and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    conn.close()
            if conn is None or conn.closed or conn.broken:
                # The connection is gone: the outcome of a COMMIT in flight is unknown, as
                # for a move alone, and every caller gets the error a move alone gets.
                self.close()
                error = _lost(exc, f"ledger: {_first_line(exc)} (is the database reachable?)")
                for move in batch:
                    move.error = error
                return
            # Nothing of the batch was committed: each move again, alone, gets its own answer.
            for move in batch:
                try:
                    move.rows = self.ledger._statement(move.sql, move.args)
                except LedgerError as error:
                    move.error = error
        except LedgerError as error:                 # cannot connect, or a move alone's own error
            for move in batch:
                move.error = error

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            from .ledger_postgres import _first_line, connect_options
            ledger = self.ledger
            kwargs = connect_options(ledger.url, False)
            if ledger.application_name:           # a presumed-dead node's sessions are ended by name
                kwargs["application_name"] = ledger.application_name
            try:
                self.conn = psycopg.connect(ledger.url, autocommit=True, **kwargs)
            except psycopg.Error as exc:
                raise LedgerError(f"ledger {ledger.url}: cannot connect ({_first_line(exc)}): is the database "
                                  "reachable?") from None
            self.pid = self.conn.info.backend_pid
            ledger.pool_pids.add(self.pid)        # its NOTIFYs are this node's own
        return self.conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            self.ledger.pool_pids.discard(self.pid)
            conn.close()
