"""Issue 9.7: one bad input never stops the daemon.  Fuzz the whole path a content file takes
(read by the scanner, checked by the gate as validate does, planned, reconciled with the
ledger, rendered for every network, the due decision) with hypothesis: every input ends as
an item (whose problems name the fix) or a content error, and nothing after reading raises."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, example, given, settings, strategies as st

from schedule.gate import decide
from schedule.plan import due_decision, reconcile, wanted
from schedule.render import Renderer
from schedule.scanner import ContentScanner
from schedule.validate import check
from tests.helpers import ALL_NETWORK_CHANNELS

NOW = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)
FIELDS = ["id", "title", "publish_at", "channels", "media", "link", "tags", "draft", "expires", "not_after",
          "autothread", "grace_minutes", "thread", "repeat", "until", "approved_by", "lang", "body_cy", "log", "x",
          "mastodon", "bluesky"]
# Values people write, and values that broke something once: infinities, clock-change times,
# impossible crons, far-away years, ids that look like a language pair.
AWKWARD = [".inf", "-.inf", ".nan", "1e308", "-1", "0", "1e-300", "true", "null", "''", "[]", "{}", "~",
           "2027-03-28T01:30", "2027-10-31T01:30", "2027-03-28", "'2027-03-28'", "9999-12-31T23:59",
           "0001-01-01T00:00", "2027-02-30T09:00", '"30 1 * * *"', '"* * * * *"', '"0 0 31 2 *"', '"61 25 * * *"',
           '"0 9 * * MON"', '"@yearly"', "budget#faq", "budget#cy", "[log, x]", "[nope]", "{text: hi}", "{skip: true}",
           "{colour: red}", "[{path: media/none.png}]", "[{path: ../../etc/passwd, alt: x}]", "2027-01-14T10:05",
           "2027-01-14T09:00+00:00", "2030-01-01", "[One, Two]", "12:30", "0x1F", "!!binary aGk="]
VALUES = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=24).map(json.dumps),
                   st.integers(min_value=-10**20, max_value=10**20).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))
FRONT = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=7)
BODY = st.one_of(st.sampled_from(["", "Bins go out on Tuesday.", "One.\n---8<---\nTwo.", "#BinDay " * 80,
                                  "Word " * 400]), st.text(max_size=300))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(front=FRONT, body=BODY)
# The inputs that stopped the daemon in issue 9, always tried as well as the random ones.
@example(front={"publish_at": "2027-01-14T09:00", "repeat": '"0 9 * * *"', "until": "2027-02-01",
                "grace_minutes": ".inf"}, body="Bins.")
@example(front={"publish_at": "2027-01-14T09:00", "grace_minutes": ".nan"}, body="Bins.")
@example(front={"publish_at": "2027-10-30T00:00", "repeat": '"30 1 * * *"', "until": "2027-11-02"}, body="Bins.")
@example(front={"id": "budget#faq", "publish_at": "2027-01-20T09:00"}, body="Budget questions.")
@example(front={"publish_at": "2027-03-28T01:30", "channels": "[x]"}, body="Word " * 100)
def test_read_plan_render_and_validate_never_raise(project, front, body):
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["log", "mastodon"]')
    project.write("fuzz.md", "---\n" + "\n".join(f"{k}: {v}" for k, v in front.items()) + "\n---\n" + body)
    config = project.config()
    result = ContentScanner(config).scan()
    assert len(result.items) + len(result.errors) == 1
    for error in result.errors:
        assert error.path == "content/fuzz.md" and error.line >= 1 and "\n" not in error.message
    renderer = Renderer(config)
    for item in result.items:
        verdict = decide(item, config, renderer, NOW)           # validate's and the daemon's check
        for problem in verdict.problems:
            assert problem.path == "content/fuzz.md" and problem.line >= 1 and problem.message
        want = wanted([item], config, NOW)                      # no failures dict: must not raise
        actions = reconcile(want, [], config, NOW, errors={item.id: verdict.errors()})
        assert len(actions.add) == len([w for w in want if not w.history])
        for entry in want[:3] + want[-3:]:
            due_decision(item, entry.when, NOW, config, paused=False)
            if not verdict.errors(entry.channel):
                renderer.render(item, entry.channel, entry.when, lang=entry.lang)
    assert check(project.config_path, now=NOW).problems is not None
