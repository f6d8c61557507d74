"""Triage: states, flags, language, and the FOI date.

States: ``new -> assigned -> answered | closed`` (a closed or answered message can be
assigned again if it needs more work).  Every change is an ``inbox_events`` row with who
and why.

Flags are worked out when a message arrives (and again when it is edited), with rules
from ``[inbox.flags]`` in config.toml; the defaults are below and in docs/inbox.md:

- ``foi``: a possible Freedom of Information request.  The ICO says a request for
  information may arrive by social media (an @mention counts) and need not name the Act,
  so the default phrases are requests for recorded information.  Its due date is 20
  working days later, counting England and Wales bank holidays (``holidays`` package).
- ``complaint``; ``urgent`` (safeguarding words: these alert at once, through apprise);
- ``abusive``: ``better-profanity``'s word list (offline), plus ``abusive_words``;
- ``welsh``: the language detector says Welsh (``lingua-language-detector``, offline,
  limited to ``[inbox] languages``).  Welsh Language Standards: answer Welsh in Welsh.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from ..errors import BotError, ConfigError
from . import store

# Defaults, documented in docs/inbox.md; each list is replaced by the same key in [inbox.flags].
DEFAULT_RULES: dict[str, tuple[str, ...]] = {
    "foi_words": ("freedom of information", "foi", "foia", "foi request", "request for information",
                  "under the act", "please provide", "please send me", "i would like to request",
                  "i request", "how much did the council", "how much has the council", "how many",
                  "copy of the", "copies of", "recorded information", "rhyddid gwybodaeth", "cais am wybodaeth"),
    "complaint_words": ("complaint", "complain", "complaining", "unacceptable", "disgrace", "disgraceful",
                        "appalling", "still waiting", "fed up", "ombudsman", "not good enough", "cwyn", "cwyno"),
    "urgent_words": ("suicide", "suicidal", "kill myself", "end my life", "self harm", "self-harm", "harm myself",
                     "abuse", "abused", "abusing", "neglect", "neglected", "safeguarding", "at risk", "in danger",
                     "unsafe", "not safe", "domestic violence", "child protection", "missing child", "gas leak",
                     "emergency", "homeless tonight", "sleeping rough", "argyfwng", "hunanladdiad"),
    "abusive_words": (),
}
FOI_WORKING_DAYS = 20
WELSH = "cy"


def rules(config) -> dict[str, tuple[str, ...]]:
    section = config.section("inbox").get("flags", {}) if config is not None else {}
    if not isinstance(section, dict):
        raise ConfigError("[inbox.flags] must be a table of word lists", str(config.path))
    merged = dict(DEFAULT_RULES)
    for key, value in section.items():
        if key not in DEFAULT_RULES:
            raise ConfigError(f"[inbox.flags] {key} is not a flag rule; use one of {', '.join(DEFAULT_RULES)}",
                              str(config.path))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[inbox.flags] {key} must be a list of words, like {key} = [\"word\", \"two words\"]",
                              str(config.path))
        merged[key] = tuple(value)
    return merged


def _normal(text: str) -> str:
    return text.casefold().replace("\u2019", "'").replace("\u2018", "'")


@lru_cache(maxsize=64)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    # Whole words only: "foi" must not match "foil"; phrases may span any whitespace.
    alternatives = [r"\s+".join(re.escape(part) for part in _normal(w).split()) for w in words if w.strip()]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(alternatives, key=len, reverse=True)) + r")(?!\w)")


def _matches(words: tuple[str, ...], text: str) -> bool:
    pattern = _pattern(words)
    return bool(pattern and pattern.search(_normal(text)))


_profanity_lock = threading.Lock()
_profanity_loaded = False


def is_abusive(text: str, extra: tuple[str, ...] = ()) -> bool:
    """better-profanity's own word list (and its leetspeak variants), plus the council's words."""
    global _profanity_loaded
    from better_profanity import profanity

    with _profanity_lock:          # load_censor_words() rebuilds a module-global set
        if not _profanity_loaded:
            profanity.load_censor_words()
            _profanity_loaded = True
        found = profanity.contains_profanity(text)
    return found or _matches(extra, text)


# ----- language ------------------------------------------------------------------------
def languages(config) -> tuple[str, ...]:
    """``[inbox] languages``: the ISO 639-1 codes the detector chooses among."""
    from lingua import IsoCode639_1

    value = config.section("inbox").get("languages", ["en", "cy"])
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[inbox] languages = {value!r} must be a list of language codes: "
                          "languages = [\"en\", \"cy\"]", str(config.path))
    for code in value:
        if not hasattr(IsoCode639_1, code.upper()):
            raise ConfigError(f"[inbox] languages: {code!r} is not an ISO 639-1 code the detector knows "
                              "(use e.g. \"en\", \"cy\")", str(config.path))
    return tuple(value)


_detectors: dict[tuple[str, ...], Any] = {}
DETECT_CHARS = 5_000


def detect_language(text: str, languages: tuple[str, ...] = ("en", "cy")) -> str | None:
    """ISO 639-1 code of the text's language among ``languages``, or None if it cannot
    tell (emoji only, a link, a name).  lingua ships its models in the wheel: no download."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    # The language shows in the first few thousand characters; lingua's time grows with the
    # text (about 10 s for 200,000 characters here), and one huge comment must not stall a poll.
    words = re.sub(r"https?://\S+|[@#][\w.]+", " ", text[:DETECT_CHARS])
    if len(re.findall(r"[^\W\d_]", words)) < 3:
        return None
    key = tuple(sorted(set(languages)))
    detector = _detectors.get(key)
    if detector is None:
        try:
            codes = [getattr(IsoCode639_1, code.upper()) for code in key]
        except AttributeError as exc:
            raise ConfigError(f"[inbox] languages: {exc.name!r} is not an ISO 639-1 code (use e.g. \"en\", \"cy\")")\
                from None
        detector = _detectors[key] = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
    language = detector.detect_language_of(words)
    return language.iso_code_639_1.name.lower() if language else None


# ----- FOI: 20 working days ------------------------------------------------------------
@lru_cache(maxsize=16)
def _bank_holidays(year: int) -> frozenset[date]:
    """England and Wales share their bank holidays; both subdivisions are joined anyway,
    so a holiday the holidays package gives one of them is never counted as working."""
    import holidays

    return frozenset(holidays.UnitedKingdom(subdiv="ENG", years=year)) | \
        frozenset(holidays.UnitedKingdom(subdiv="WLS", years=year))


def working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def foi_due(received: datetime, tz, days: int = FOI_WORKING_DAYS) -> date:
    """ICO: the day after receipt is day one (the first working day after it, if it arrives
    on a non-working day), and the response is due by the 20th working day."""
    day = received.astimezone(tz).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if working_day(day):
            counted += 1
    return day


# ----- flags for one message -----------------------------------------------------------
def flags_for(text: str, language: str | None, rule_set: dict[str, tuple[str, ...]]) -> list[str]:
    flags = []
    if _matches(rule_set["foi_words"], text):
        flags.append("foi")
    if _matches(rule_set["complaint_words"], text):
        flags.append("complaint")
    if _matches(rule_set["urgent_words"], text):
        flags.append("urgent")
    if text.strip() and is_abusive(text, rule_set["abusive_words"]):
        flags.append("abusive")
    if language == WELSH:
        flags.append("welsh")
    return flags


class Triage:
    """Flags and language for arriving messages, with the config read once."""

    def __init__(self, config):
        self.config = config
        self.rules = rules(config)
        self.languages = languages(config)

    def assess(self, text: str, received: datetime, network_language: str | None = None
               ) -> tuple[list[str], str | None, str | None]:
        """(flags, language, FOI due date ISO or None)."""
        language = detect_language(text, self.languages) if text.strip() else None
        language = language or (network_language.split("-")[0].lower() if network_language else None)
        flags = flags_for(text, language, self.rules)
        due = foi_due(received, self.config.timezone).isoformat() if "foi" in flags else None
        return flags, language, due


# ----- operator actions ----------------------------------------------------------------
def _need(ledger, message_id: int) -> dict:
    row = store.message(ledger, message_id)
    if row is None:
        raise BotError(f"no inbox message {message_id}: see `python bot.py inbox` for ids")
    if row["own"]:
        raise BotError(f"inbox message {message_id} is the council's own reply, not a resident's message")
    return row


def assign(ledger, message_id: int, name: str, actor: str, reason: str | None = None) -> dict:
    if not name.strip():
        raise BotError("inbox assign: give the name of the person to assign it to")
    row = _need(ledger, message_id)
    to_state = "assigned" if row["state"] in ("new", "assigned") else row["state"]
    store.change(ledger, message_id, "assigned", actor=actor, reason=reason, to_state=to_state,
                 detail={"assignee": name, "was": row["assignee"]}, assignee=name)
    return store.message(ledger, message_id)


def tag(ledger, message_id: int, name: str, actor: str) -> dict:
    name = name.strip().lower()
    if not name or not re.fullmatch(r"[\w-]+", name):
        raise BotError(f"inbox tag: {name!r} is not a tag; use letters, digits, - or _ (like bins or flooding)")
    row = _need(ledger, message_id)
    if name not in row["tags"]:
        store.change(ledger, message_id, "tagged", actor=actor, reason=name, tags=sorted(row["tags"] + [name]))
    return store.message(ledger, message_id)


def note(ledger, message_id: int, text: str, actor: str) -> dict:
    if not text.strip():
        raise BotError("inbox note: the note is empty")
    _need(ledger, message_id)
    store.add_note(ledger, message_id, text, actor)
    return store.message(ledger, message_id)


def close(ledger, message_id: int, reason: str, actor: str) -> dict:
    if not reason.strip():
        raise BotError("inbox close: give --reason (recorded with your name), e.g. --reason \"no reply needed\"")
    row = _need(ledger, message_id)
    if row["state"] != "closed":
        store.change(ledger, message_id, "closed", actor=actor, reason=reason, to_state="closed")
    return store.message(ledger, message_id)


def answered_by(ledger, reply: dict, actor: str = "inbox") -> dict | None:
    """The council replied (in the network's app or through civicpost): the message it
    answers becomes answered, with the first-response time.  Returns that message."""
    if not reply.get("parent_remote_id"):
        if reply.get("kind") != "direct" or not reply.get("conversation"):
            return None
        # A direct message answers whatever the resident sent before it in that conversation.
        waiting = store.open_in_conversation(ledger, reply["channel"], reply["conversation"], reply["created_at"])
        for target in waiting:
            _answered(ledger, target, reply, actor)
        return waiting[0] if waiting else None
    target = store.by_remote(ledger, reply["channel"], reply["parent_remote_id"])
    if target is None or target["own"] or target["state"] not in store.OPEN_STATES:
        return None
    _answered(ledger, target, reply, actor)
    return target


def _answered(ledger, target: dict, reply: dict, actor: str) -> None:
    asked = datetime.fromisoformat(target["created_at"])
    answered = datetime.fromisoformat(reply["created_at"])
    seconds = max(0, int((answered - asked).total_seconds()))
    store.change(ledger, target["id"], "answered", actor=actor, reason=f"council replied: {reply['remote_id']}",
                 to_state="answered", expect=store.OPEN_STATES, detail={"reply": reply["remote_id"]},
                 answered_at=reply["created_at"], answered_by=reply["remote_id"], first_response_seconds=seconds)
