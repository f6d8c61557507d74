"""`secrets.mask` keeps its list of known values sorted once per new value (#12: it sorted
them on every log line, hundreds with hundreds of accounts); what it masks must not change:
a value remembered after a mask call is masked by the next one, and a longer secret that
contains a shorter one is masked whole (no tail left showing)."""
from __future__ import annotations

from schedule.secrets import mask, remember


def test_a_value_remembered_later_is_masked_by_the_next_call():
    assert mask("token q7Rk-first-9aZ1 sent") == "token q7Rk-first-9aZ1 sent"
    remember("q7Rk-first-9aZ1")
    assert mask("token q7Rk-first-9aZ1 sent") == "token *** sent"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole():
    remember("Zx81-short")
    remember("Zx81-short-and-then-longer")
    assert mask("a=Zx81-short-and-then-longer b=Zx81-short") == "a=*** b=***"
