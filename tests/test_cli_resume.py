"""`bot.py resume` lists what would go out at once and asks first (#10 §4): after a
pause for a grave event, a cheerful post must not slip out unnoticed."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger
from tests.conftest import ROOT


def paused_with_a_held_post(project):
    """A pause (national mourning) that held a cheerful post planned five minutes ago."""
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    ledger.set_meta(paused="1", paused_by="priya", paused_reason="National mourning",
                    paused_at=(datetime.now(timezone.utc) - timedelta(hours=2)).isoformat())
    planned = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    held = ledger.add("2030/christmas-market", "log", "log", planned, state="held", hold_reason="posting is paused",
                      title="The Christmas market is back! 🎄")
    stale = ledger.add("old-news", "log", "log", planned - timedelta(days=1), state="held",
                       hold_reason="posting is paused")
    ledger.close()
    return config, held, stale


def resume(project, *args, input=None):
    return CliRunner().invoke(cli, ["--config", str(project.config_path), "resume", *args], input=input)


def state(config, delivery):
    ledger = Ledger(config.database, config.timezone)
    try:
        return ledger.get(delivery)["state"], ledger.get_meta("paused")
    finally:
        ledger.close()


def test_resume_lists_what_goes_out_at_once_and_asks(project):
    config, held, stale = paused_with_a_held_post(project)
    result = resume(project, input="n\n")
    assert result.exit_code == 1
    out = result.stdout
    assert "Paused by priya" in out and "National mourning" in out
    at_once = out[out.index("AT ONCE"):out.index("Staying held")]
    assert "2030/christmas-market" in at_once and "The Christmas market is back!" in at_once and str(held) in at_once
    assert "old-news" in out[out.index("Staying held"):]
    assert "Resume posting? [y/N]" in out and "Not resumed" in out
    assert state(config, held) == ("held", "1")


def test_yes_at_the_prompt_resumes(project):
    config, held, stale = paused_with_a_held_post(project)
    result = resume(project, input="y\n")
    assert result.exit_code == 0, result.output
    assert "1 held delivery(ies) released" in result.stdout
    assert state(config, held) == ("scheduled", "0") and state(config, stale)[0] == "held"


def test_no_one_to_ask_refuses_with_a_one_line_hint(project):
    config, held, _ = paused_with_a_held_post(project)
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "resume"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "--yes" in done.stderr and "Traceback" not in done.stderr
    assert state(config, held) == ("held", "1")


def test_yes_flag_resumes_without_asking_and_still_lists(project):
    config, held, _ = paused_with_a_held_post(project)
    result = resume(project, "--yes")
    assert result.exit_code == 0, result.output
    assert "AT ONCE" in result.stdout and "Resume posting?" not in result.stdout
    assert state(config, held) == ("scheduled", "0")
