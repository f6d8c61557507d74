"""A language field with no [languages] table is not dropped in silence (#10 §4), and
title_<lang> is used wherever titles are."""
from __future__ import annotations

import json

from click.testing import CliRunner

from bot import cli


def validate(project):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_body_cy_without_languages_is_a_warning_saying_how_to_turn_it_on(project):
    path = project.post("market.md", "publish_at: 2030-12-05T09:00\nlang: en\ntitle_cy: Marchnad Nadolig\n"
                        "body_cy: |\n  Mae'r farchnad Nadolig yn ôl.", "The Christmas market is back.")
    code, problems = validate(project)
    assert code == 0                                      # a warning, not an error
    found = {p["message"].split(":")[0]: p for p in problems if p["code"] == "languages-off"}
    assert set(found) == {"body_cy", "title_cy"}
    body = found["body_cy"]
    assert body["level"] == "warning" and body["line"] == 5 and body["path"].endswith("market.md")
    assert '[languages] required = ["cy", "en"]' in body["message"] and "Welsh" in body["message"]
    assert path.read_text().splitlines()[body["line"] - 1].startswith("body_cy:")


def test_no_warning_once_bilingual_posting_is_on(project):
    project.write_config(extra='[languages]\nrequired = ["cy", "en"]\nfirst = "cy"\n')
    project.post("market.md", "publish_at: 2030-12-05T09:00\nlang: en\nbody_cy: Mae'r farchnad yn ôl.",
                 "The market is back.")
    code, problems = validate(project)
    assert code == 0 and not [p for p in problems if p["code"] == "languages-off"]


def test_combined_posts_carry_every_title_first_language_first(project):
    """YouTube, LinkedIn and the calendar use the title: a Welsh-first council's combined
    post has "Marchnad Nadolig / Christmas market", not the English title alone."""
    project.write_config(extra='[languages]\nrequired = ["cy", "en"]\nfirst = "cy"\n')
    project.post("market.md", "title: Christmas market\ntitle_cy: Marchnad Nadolig\nlang: en\n"
                 "publish_at: 2030-12-05T09:00\nbody_cy: Mae'r farchnad yn ôl.", "The market is back.")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "preview", "--json"])
    (item,) = json.loads(result.stdout)
    assert item["variants"][0]["title"] == "Marchnad Nadolig / Christmas market"
