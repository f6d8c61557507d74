"""Reading content files: the schema, times, media, and every kind of bad input."""
from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from schedule.content import read_item
from schedule.plain_text import markdown_to_text
from schedule.scanner import ContentScanner, scan
from schedule.errors import ContentError

LONDON = ZoneInfo("Europe/London")


def read(project, rel):
    return read_item(project.content / rel, project.config())


def error_of(project, rel) -> ContentError:
    with pytest.raises(ContentError) as info:
        read(project, rel)
    return info.value


def test_fields_and_defaults(project):
    project.post("news/pool.md", """
title: Pool opens
publish_at: 2027-01-14T10:00
link: https://example.gov.uk/pool
tags: ["#Swimming", blackburn leisure]
approved_by: Tom
custom_field: 42
""", "Our **new** pool opens. See [the page](https://example.gov.uk/pool).")
    item = read(project, "news/pool.md")
    assert item.id == "news/pool"                       # path without suffix
    assert item.title == "Pool opens"
    assert item.times == (datetime(2027, 1, 14, 10, 0, tzinfo=LONDON),)
    assert item.times[0].utcoffset().total_seconds() == 0
    assert item.channels == ("log",)                    # config default
    assert item.tags == ("Swimming", "blackburn leisure")
    assert item.extra == {"approved_by": "Tom", "custom_field": 42}
    assert item.body == "Our new pool opens. See the page https://example.gov.uk/pool."
    assert item.rel == "content/news/pool.md"
    assert item.line("link") == 4 and item.body_line == 9


def test_offset_times_are_kept_and_summer_time_is_applied(project):
    project.post("a.md", "publish_at: 2027-07-01T09:00")
    project.post("b.md", "publish_at: 2027-07-01T09:00+02:00")
    assert read(project, "a.md").times[0].utcoffset().total_seconds() == 3600
    assert read(project, "b.md").times[0] == datetime.fromisoformat("2027-07-01T07:00+00:00")


def test_time_in_the_spring_gap_is_an_error_naming_the_fix(project):
    project.post("gap.md", "title: x\npublish_at: 2027-03-28T01:30")
    err = error_of(project, "gap.md")
    assert err.line == 3 and err.code == "time-gap"
    assert "does not exist" in err.message and "+00:00" in err.message


def test_time_in_the_autumn_overlap_is_an_error_naming_both_offsets(project):
    project.post("overlap.md", "publish_at: 2027-10-31T01:30")
    err = error_of(project, "overlap.md")
    assert err.code == "time-ambiguous" and "+01:00" in err.message and "+00:00" in err.message


def test_date_without_time_is_an_error(project):
    project.post("d.md", "publish_at: 2027-01-14")
    assert "no time of day" in error_of(project, "d.md").message


def test_weekly_repeat_stays_at_nine_local_across_the_clock_change(project):
    project.post("bins.md", 'publish_at: 2027-03-15T09:00\nrepeat: "0 9 * * MON"\nuntil: 2027-04-12')
    item = read(project, "bins.md")
    assert [t.strftime("%m-%d %H:%M") for t in item.times] == [
        "03-15 09:00", "03-22 09:00", "03-29 09:00", "04-05 09:00", "04-12 09:00"]
    assert {t.hour for t in item.times} == {9}
    assert item.times[1].utcoffset() != item.times[2].utcoffset()   # BST began on 28 March


def test_repeat_needs_until_and_a_valid_expression(project):
    project.post("r1.md", 'repeat: "0 9 * * MON"')
    assert "until" in error_of(project, "r1.md").message
    project.post("r2.md", 'repeat: "every monday"\nuntil: 2027-01-01')
    assert error_of(project, "r2.md").code == "repeat"


def test_thread_marker_and_thread_list(project):
    project.post("t.md", "title: t", "First.\n---8<---\nSecond.\n ---8<--- \nThird.")
    assert read(project, "t.md").body.count("---8<---") == 2
    project.post("l.md", "thread: [One, Two]", "")
    assert read(project, "l.md").body == "One\n---8<---\nTwo"
    project.post("both.md", "thread: [One]", "A body too")
    assert "not both" in error_of(project, "both.md").message


def test_media_resolution_and_errors(project):
    project.image("pool.png")
    project.post("ok.md", "media:\n  - {path: media/pool.png, alt: The pool}")
    media = read(project, "ok.md").media[0]
    assert media.kind == "image" and media.mime == "image/png" and media.alt == "The pool" and media.size > 0
    project.post("missing.md", "media: [{path: media/nope.png, alt: x}]")
    err = error_of(project, "missing.md")
    assert err.code == "media-missing" and err.line == 2
    project.post("outside.md", "media: [{path: ../../etc/passwd, alt: x}]")
    assert error_of(project, "outside.md").code == "media-outside"


def test_a_media_path_with_a_nul_byte_is_a_content_error_not_a_crash(project):
    """Found by tests/test_fuzz_path.py: YAML's "\\u0000" escape puts a NUL byte in a path,
    which the OS refuses (ValueError from os.path.realpath). It must be this file's one-line
    error, never an exception that stops a scan."""
    project.post("nul.md", 'media: [{path: "media/pool\\u0000.png", alt: x}]')
    err = error_of(project, "nul.md")
    assert err.code == "media-missing" and err.line == 2 and "media/pool" in err.message


def test_media_symlink_pointing_outside_is_refused(project, tmp_path):
    secret = tmp_path / "outside.png"
    secret.write_bytes(b"x")
    os.symlink(secret, project.content / "media" / "link.png")
    project.post("s.md", "media: [{path: media/link.png, alt: x}]")
    assert error_of(project, "s.md").code == "media-outside"


def test_content_symlink_pointing_outside_is_refused(project, tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text("---\ntitle: x\n---\nhello\n")
    os.symlink(outside, project.content / "linked.md")
    assert error_of(project, "linked.md").code == "outside"


def test_bom_and_crlf_are_read(project):
    project.write("bom.md", "\ufeff---\r\ntitle: Windows\r\npublish_at: 2027-01-14T10:00\r\n---\r\nHello\r\nthere\r\n".encode())
    item = read(project, "bom.md")
    assert item.title == "Windows" and item.body == "Hello\nthere"


def test_non_utf8_names_the_line(project):
    project.write("latin1.md", "---\ntitle: ok\n---\nline one\ncaf\xe9\n".encode("latin-1"))
    err = error_of(project, "latin1.md")
    assert err.code == "encoding" and err.line == 5 and "UTF-8" in err.message


def test_huge_file_is_refused(project):
    project.write_config(extra="[content]\nmax_file_bytes = 1000\n")
    project.write("big.md", "---\ntitle: big\n---\n" + "x" * 2000)
    assert error_of(project, "big.md").code == "too-big"


def test_alias_bomb_is_refused(project):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n' \
           'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]'
    project.post("bomb.md", bomb)
    err = error_of(project, "bomb.md")
    assert err.code == "yaml" and "aliases" in err.message


def test_front_matter_that_is_a_list(project):
    project.write("list.md", "---\n- a\n- b\n---\nbody\n")
    err = error_of(project, "list.md")
    assert err.code == "schema" and "key: value" in err.message


def test_bad_yaml_names_the_line(project):
    project.write("bad.md", "---\ntitle: ok\nlink: [unclosed\n---\nbody\n")
    err = error_of(project, "bad.md")
    assert err.code == "yaml" and err.line >= 3


def test_unknown_channel_and_typo_warning(project):
    project.post("u.md", "channels: [twitter]")
    err = error_of(project, "u.md")
    assert err.code == "unknown-channel" and "twitter" in err.message and "log" in err.message
    project.post("typo.md", "publsh_at: 2027-01-01T09:00\npublish_at: 2027-01-01T09:00")
    item = read(project, "typo.md")
    assert any("did you mean 'publish_at'" in p.message for p in item.problems)


def test_overrides_draft_and_not_after(project):
    project.post("o.md", """
publish_at: 2027-01-14T10:00
draft: true
expires: 2027-01-20
log: {text: "Short version", tags: [one]}
youtube: {title: A video}
""")
    item = read(project, "o.md")
    assert item.draft
    assert item.not_after == datetime(2027, 1, 20, 23, 59, 59, tzinfo=LONDON)
    assert item.overrides["log"] == {"text": "Short version", "tags": ("one",)}
    assert item.overrides["youtube"] == {"title": "A video"}     # a network with no channel yet is still an override
    project.post("bad-o.md", "log: {colour: red}")
    assert "unknown override" in error_of(project, "bad-o.md").message


def test_scan_collects_errors_without_stopping_and_finds_duplicate_ids(project):
    project.post("a.md", "id: same\npublish_at: 2027-01-14T10:00")
    project.post("b.md", "id: same\npublish_at: 2027-01-14T10:00")
    project.write("broken.md", "---\n: : :\n---\n")
    project.image("ignored.png")
    result = scan(project.config())
    assert result.files == 3
    assert len(result.items) == 2 and len(result.errors) == 1
    assert [p.code for p in result.problems] == ["duplicate-id"]
    assert "content/a.md" in result.problems[0].message


def test_rescan_rereads_only_changed_files(project):
    path = project.post("a.md", "title: first")
    scanner = ContentScanner(project.config())
    first = scanner.scan().items[0]
    assert scanner.scan().items[0] is first                         # unchanged: cached object
    path.write_text("---\ntitle: second\n---\nbody\n")
    os.utime(path, ns=(1, 1))
    assert scanner.scan().items[0].title == "second"
    path.unlink()
    assert scanner.scan().items == [] and scanner.cache == {}


def test_markdown_to_text_keeps_hashtags_and_snake_case():
    assert markdown_to_text("# Heading\n\n#BinDay is *today* for some_road_name") == \
        "Heading\n\n#BinDay is today for some_road_name"
    assert markdown_to_text("Note <!-- not for the public --> kept") == "Note  kept"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=400),
    st.builds(lambda fm, body: ("---\n" + fm + "\n---\n" + body).encode(), st.text(max_size=200), st.text(max_size=100)),
    st.builds(lambda k, v: f"---\n{k}: {v}\n---\nbody".encode(),
              st.sampled_from(["publish_at", "media", "tags", "channels", "repeat", "thread", "id", "expires",
                               "draft", "log", "autothread", "grace_minutes", "until"]),
              st.text(max_size=40)),
))
def test_any_bytes_give_an_item_or_a_content_error(project, data):
    path = project.write("fuzz.md", data)
    try:
        item = read_item(path, project.config())
    except ContentError as exc:
        assert exc.path == "content/fuzz.md" and exc.line >= 1 and exc.message
    else:
        assert item.id.strip() and item.rel == "content/fuzz.md"
        assert all(t.tzinfo is not None for t in item.times)


# ----- issue 9.7: numbers the planner cannot use are refused when read ----------------------
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e300", "-5"])
def test_grace_minutes_must_be_a_real_number_of_minutes(project, value):
    project.post("g.md", f"publish_at: 2027-01-14T10:00\ngrace_minutes: {value}")
    err = error_of(project, "g.md")
    assert err.line == 3 and "grace_minutes: must be a number of minutes from 0" in err.message
    assert "\n" not in str(err)


# ----- issue 9.9: ids and language variants never share a namespace --------------------------
def test_an_id_with_a_hash_is_refused_with_the_fix(project):
    project.post("b.md", "id: budget#faq\npublish_at: 2027-01-14T10:00")
    err = error_of(project, "b.md")
    assert err.code == "id-collides" and err.line == 2 and "id: budget-faq" in err.message
    project.post("budget#cy.md", "publish_at: 2027-01-14T10:00")      # the id would come from the name
    err = error_of(project, "budget#cy.md")
    assert err.code == "id-collides" and "rename the file" in err.message
    scanned = scan(project.config()).items                    # the service's reading: kept as an error
    assert {(i.id, p.code, p.level) for i in scanned for p in i.problems if p.code == "id-collides"} == {
        ("budget#faq", "id-collides", "error"), ("budget#cy", "id-collides", "error")}


# ----- issue 9.8: repeats on the two clock-change nights ------------------------------------
# UK rules (the Summer Time Order 2002, as in the tz database's Europe/London): BST starts at
# 01:00 UTC on the last Sunday of March and ends at 01:00 UTC on the last Sunday of October.
# In 2027 those are Sunday 28 March and Sunday 31 October.
def utc(text):
    return datetime.fromisoformat(text)


def in_utc(times):
    # Compared in UTC: Python never calls an ambiguous local time (01:30 on the autumn night)
    # equal to a time in another zone (PEP 495), even when they are the same instant.
    return [t.astimezone(utc("2027-01-01T00:00+00:00").tzinfo) for t in times]


def test_a_repeat_fires_once_on_the_autumn_night_at_the_first_0130(project):
    project.post("night.md", 'publish_at: 2027-10-30T00:00\nrepeat: "30 1 * * *"\nuntil: 2027-11-01')
    item = read(project, "night.md")
    assert in_utc(item.times) == [
        utc("2027-10-30T00:30:00+00:00"),      # Sat 01:30 BST
        utc("2027-10-31T00:30:00+00:00"),      # Sun 01:30 BST, the first of the two 01:30s; not again at 01:30 GMT
        utc("2027-11-01T01:30:00+00:00"),      # Mon 01:30 GMT
    ]
    assert not [p for p in item.problems if p.code == "repeat-gap"]


def test_a_repeat_skips_the_missing_0130_in_spring_and_says_so(project):
    project.post("night.md", 'publish_at: 2027-03-27T00:00\nrepeat: "30 1 * * *"\nuntil: 2027-03-29')
    item = read(project, "night.md")
    assert in_utc(item.times) == [
        utc("2027-03-27T01:30:00+00:00"),      # Sat 01:30 GMT
        utc("2027-03-29T00:30:00+00:00"),      # Mon 01:30 BST; Sun 01:30 never happens
    ]
    warnings = [p for p in item.problems if p.code == "repeat-gap"]
    assert len(warnings) == 1 and warnings[0].level == "warning" and warnings[0].line == 3
    assert "Sun 28 Mar 2027" in warnings[0].message and "skipped" in warnings[0].message


def test_a_year_of_a_nightly_repeat_across_both_changes_fires_once_a_night(project):
    project.post("year.md", 'publish_at: 2027-01-01T00:00\nrepeat: "30 1 * * *"\nuntil: 2027-12-31')
    times = read(project, "year.md").times
    assert len(times) == 364                   # 365 nights, less the one with no 01:30
    assert len({t.date() for t in times}) == 364 and all((t.hour, t.minute) == (1, 30) for t in times)


# ----- issue 10 §2: every problem in a file at once -----------------------------------------
def test_a_clock_change_error_does_not_hide_the_other_problems(project):
    from schedule.validate import check
    from tests.helpers import ALL_NETWORK_CHANNELS

    project.write_config(channels=ALL_NETWORK_CHANNELS)
    project.post("gap.md", "publish_at: 2027-03-28T01:30\nchannels: [x]\nautothread: maybe", "Word " * 100)
    problems = check(project.config_path).problems
    codes = {p.code for p in problems if p.path == "content/gap.md" and p.level == "error"}
    assert {"time-gap", "too-long"} <= codes and any("autothread" in p.message for p in problems)
    with pytest.raises(ContentError):           # read strictly (one file), the first still raises
        read(project, "gap.md")


# ----- issue 9.7: a symlink loop is reported and the scan goes on -------------------------------
def test_a_symlink_loop_is_reported_and_the_scan_goes_on(project):
    os.symlink("loop.md", project.content / "loop.md")
    os.symlink("circle", project.content / "circle")
    project.post("fine.md", "publish_at: 2027-01-14T10:00")
    result = scan(project.config())
    assert [i.id for i in result.items] == ["fine"]
    assert sorted((e.path, e.code) for e in result.errors) == [("content/circle", "symlink-loop"),
                                                                ("content/loop.md", "symlink-loop")]
