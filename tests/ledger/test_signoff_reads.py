"""The publisher's sign-off read (`signoff.LedgerSignoffs`, #12), on both engines: one item's
`signoff:<id>` row, read when the gate asks, sees what another connection (the web page, in
its own process) committed just before, a replacement and a removal alike, and agrees with
the full read (`records_in`)."""
from __future__ import annotations

import json

from schedule.signoff import PREFIX, LedgerSignoffs, records_in


def _write(ledger, item_id, record):
    with ledger.transaction():                  # as sign_off writes it: meta and the event together
        ledger.set_meta(**{PREFIX + item_id: json.dumps(record) if record else None})
        if record:
            ledger.event("signed_off", item=item_id, actor=record["by"], detail={"digest": record["digest"]})


def test_each_read_sees_the_other_connections_last_commit(spec, open_ledger_at):
    daemon, page = open_ledger_at(spec), open_ledger_at(spec)
    signoffs = LedgerSignoffs(daemon)
    assert signoffs.get("fete") is None
    first = {"digest": "a" * 64, "by": "web:tom", "at": "2030-01-14T09:00:00.000000+00:00", "path": "fete.md"}
    _write(page, "fete", first)
    assert signoffs.get("fete") == first
    second = {**first, "digest": "b" * 64, "by": "web:ann"}
    _write(page, "fete", second)
    _write(page, "parade", first)
    assert signoffs.get("fete") == second
    assert {i: signoffs.get(i) for i in ("fete", "parade")} == records_in(daemon) == {"fete": second, "parade": first}
    _write(page, "fete", None)                    # removed: no sign-off counts any more
    assert signoffs.get("fete") is None and "fete" not in records_in(daemon)
