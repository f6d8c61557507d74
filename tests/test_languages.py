"""Bilingual posting: combined posts, paired posts in order, missing languages, one file per language."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from bot import cli
from schedule.alerts import Alerter
from schedule.scanner import ContentScanner
from schedule.ledger import Ledger
from schedule.plan import reconcile, wanted
from schedule.publisher import Publisher
from schedule.render import Renderer

WELSH = '[languages]\nrequired = ["cy", "en"]\nfirst = "cy"\n'


def cli_json(project, *args):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_combined_post_has_both_languages_first_language_first(project):
    project.write_config(extra=WELSH)
    project.post("market.md", "publish_at: 2030-12-05T09:00\nbody_cy: Mae'r farchnad Nadolig yn ôl.",
                 "The Christmas market is back.")
    code, items = cli_json(project, "preview")
    assert code == 0
    (variant,) = items[0]["variants"]
    assert variant["parts"][0]["text"] == "Mae'r farchnad Nadolig yn ôl.\n\nThe Christmas market is back."


def test_threads_are_combined_part_by_part(project):
    project.write_config(extra=WELSH)
    project.post("road.md", "publish_at: 2030-12-05T09:00\nbody_cy: \"Ffordd ar gau.\\n---8<---\\nDargyfeiriad.\"",
                 "Road closed.\n---8<---\nDiversion.")
    _, items = cli_json(project, "preview")
    assert [p["text"] for p in items[0]["variants"][0]["parts"]] == ["Ffordd ar gau.\n\nRoad closed.",
                                                                     "Dargyfeiriad.\n\nDiversion."]


def test_missing_language_is_an_error(project):
    project.write_config(extra=WELSH)
    project.post("english-only.md", "publish_at: 2030-12-05T09:00", "English only.")
    code, problems = cli_json(project, "validate")
    assert code == 1
    (problem,) = [p for p in problems if p["code"] == "language-missing"]
    assert "Welsh (cy)" in problem["message"] and "body_cy" in problem["message"]


def test_length_is_checked_on_the_combined_post(project):
    project.write_config(extra=WELSH, channels='[channels.x]\nnetwork = "x"\n', default_channels='["x"]')
    project.post("long.md", f"publish_at: 2030-12-05T09:00\nbody_cy: {'Gair ' * 30}", "Word " * 30)
    code, problems = cli_json(project, "validate")
    assert code == 1 and any(p["code"] == "too-long" and p["channel"] == "x" for p in problems)


def test_one_file_per_language_sharing_an_id(project):
    project.write_config(extra=WELSH)
    project.post("market-en.md", "id: market\nlang: en\npublish_at: 2030-12-05T09:00", "The market is back.")
    project.post("market-cy.md", "id: market\nlang: cy\npublish_at: 2030-12-05T09:00", "Mae'r farchnad yn ôl.")
    code, problems = cli_json(project, "validate")
    assert code == 0, problems
    _, items = cli_json(project, "preview")
    assert [i["id"] for i in items] == ["market"]
    assert items[0]["variants"][0]["parts"][0]["text"] == "Mae'r farchnad yn ôl.\n\nThe market is back."


def test_paired_posts_go_out_in_order_each_in_its_language(project):
    project.write_config(extra=WELSH + 'mode = "paired"\n')
    when = datetime.now(timezone.utc) + timedelta(minutes=1)
    project.post("market.md", f"publish_at: {when.isoformat()}\ntitle: Market\ntitle_cy: Marchnad\n"
                              "body_cy: Mae'r farchnad yn ôl.", "The market is back.")
    config = project.config()
    scanner = ContentScanner(config)
    want = wanted(scanner.scan().items, config, datetime.now(timezone.utc))
    assert [(w.delivery_item, w.when - when) for w in want] == [("market#cy", timedelta(0)),
                                                                ("market#en", timedelta(seconds=2))]
    ledger = Ledger(config.database, config.timezone)
    for w, state, _ in reconcile(want, [], config, datetime.now(timezone.utc)).add:
        ledger.add(w.delivery_item, w.channel, w.network, w.when, state=state, item_digest=w.item.digest)
    items = {i.id: i for i in scanner.scan().items}
    publisher = Publisher(config, ledger, Renderer(config), Alerter((), ledger, sender=lambda t, b: True),
                          lambda i: items.get(i.split("#")[0]))
    for row in ledger.deliveries():
        assert publisher.run(row["id"]) == "posted"
    rows = ledger.deliveries()
    assert [(r["item"], r["text"], r["title"]) for r in rows] == [
        ("market#cy", "Mae'r farchnad yn ôl.", "Marchnad"), ("market#en", "The market is back.", "Market")]


def test_ids_and_language_pairs_cannot_collide(project):
    """Issue 9.9: 'budget#faq' was read as the 'faq' post of item 'budget' and cancelled at due
    time.  An id with '#' is refused with the fix; the pair form stays readable for old ledgers,
    and only configured languages count as one."""
    from schedule.errors import ContentError
    from schedule.content import read_item
    from schedule.languages import split_delivery_item

    project.write_config(extra=WELSH)
    project.post("faq.md", "id: budget#faq\npublish_at: 2030-12-05T09:00")
    try:
        read_item(project.content / "faq.md", project.config())
    except ContentError as exc:
        assert exc.line == 2 and "use id: budget-faq" in exc.message
    else:
        raise AssertionError("an id with '#' was accepted")
    assert split_delivery_item("budget#cy", ("cy", "en")) == ("budget", "cy")
    assert split_delivery_item("budget#faq", ("cy", "en")) == ("budget#faq", None)
    assert split_delivery_item("budget#faq", ()) == ("budget#faq", None)
    project.post("ok.md", "id: budget\npublish_at: 2030-12-05T09:00\nbody_cy: Cyllideb.", "Budget.")
    project.write_config(extra=WELSH + 'mode = "paired"\n')
    config = project.config()
    items = [i for i in ContentScanner(config).scan().items if i.id == "budget"]
    assert [w.delivery_item for w in wanted(items, config, datetime(2030, 12, 1, tzinfo=timezone.utc))] == [
        "budget#cy", "budget#en"]
