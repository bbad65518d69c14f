"""Alerts of `propscope watch`: rules over new analyses and weekly means, each alert raised once
and delivered once per channel (a webhook, email, a JSONL file, the terminal).

An alert is a row of the library's ``alerts`` table, unique by rule and key (the analysis, or
the source and week), so a restart never raises it again. Each channel of it is a row of
``alert_deliveries`` that stays pending until the channel took it, and is tried again on the
next pass after a failure, up to ``DELIVERY_TRIES`` times.
"""

from __future__ import annotations

import json
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from propscope import techniques
from propscope.analysis import Analysis
from propscope.errors import InputError
from propscope.ingest import USER_AGENT
from propscope.reports.words import span_name
from propscope.store import Library, now

DELIVERY_TRIES = 10  # passes on which a failed channel is tried again
WEBHOOK_ATTEMPTS = 3  # attempts within one try, a second and then two apart
WEBHOOK_TIMEOUT_S = 10.0
TOP_FINDINGS = 3
CHANNELS = ("webhook", "email", "jsonl", "terminal")


@dataclass(frozen=True)
class Smtp:
    """The mail server that email alerts go through."""

    host: str
    port: int = 25
    sender: str = "propscope@localhost"
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None  # the variable that holds the password, never the password itself


@dataclass(frozen=True)
class Rule:
    """One alert rule: exactly one condition, and at least one channel."""

    name: str
    score_at_least: float | None = None
    technique: str | None = None  # a PTC label (the watch file may give the id); with at_least
    at_least: int = 1
    weekly_mean_rise: float | None = None  # a source's mean score this week over last week's
    min_articles: int = 3  # for weekly_mean_rise: articles in each of the two weeks
    webhook: str | None = None
    email: tuple[str, ...] = ()
    jsonl: Path | None = None
    terminal: bool = False

    @property
    def channels(self) -> list[str]:
        chosen = {"webhook": self.webhook, "email": self.email, "jsonl": self.jsonl, "terminal": self.terminal}
        return [channel for channel in CHANNELS if chosen[channel]]

    @property
    def is_weekly(self) -> bool:
        return self.weekly_mean_rise is not None


def parse_rule(table: dict[str, Any], where: str, base: Path) -> Rule:
    """A rule from one ``[[alert]]`` table of a watch file; ``where`` names it in errors."""
    known = {"name", "score_at_least", "technique", "at_least", "weekly_mean_rise", "min_articles", *CHANNELS}
    if unknown := sorted(set(table) - known):
        raise InputError(f"{where}: unknown key {', '.join(unknown)} (an alert takes {', '.join(sorted(known))})")
    conditions = [key for key in ("score_at_least", "technique", "weekly_mean_rise") if key in table]
    if len(conditions) != 1:
        raise InputError(f"{where}: give exactly one of score_at_least, technique (with at_least) or weekly_mean_rise")
    try:
        technique = techniques.get(str(table["technique"])).ptc_label if "technique" in table else None
        email = table.get("email", ())
        rule = Rule(
            name=str(table.get("name") or where), score_at_least=_number(table, "score_at_least"),
            technique=technique, at_least=int(table.get("at_least", 1)),
            weekly_mean_rise=_number(table, "weekly_mean_rise"), min_articles=int(table.get("min_articles", 3)),
            webhook=table.get("webhook"), email=(email,) if isinstance(email, str) else tuple(email),
            jsonl=base / table["jsonl"] if "jsonl" in table else None, terminal=bool(table.get("terminal", False)),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None
    if not rule.channels:
        raise InputError(f"{where}: say where the alert goes: webhook, email, jsonl or terminal")
    return rule


def _number(table: dict[str, Any], key: str) -> float | None:
    return float(table[key]) if key in table else None


# ------------------------------------------------------------------ raising


def article_payload(analysis: Analysis, analysis_id: int) -> dict[str, Any]:
    """The article's link and its most confident findings, as every channel shows them."""
    source = analysis.source
    spans = sorted(analysis.spans, key=lambda span: -span.confidence)[:TOP_FINDINGS]
    return {
        "analysis_id": analysis_id, "url": source.url if source else None, "title": source.title if source else None,
        "source": source.name if source else None, "published": source.date if source else None,
        "score": round(analysis.score, 4),
        "findings": [{"technique": span_name(span), "text": analysis.span_text(span),
                      "confidence": round(span.confidence, 4)} for span in spans],
    }


def raise_for_analysis(library: Library, rules: Sequence[Rule], analysis: Analysis, analysis_id: int) -> int:
    """Raise every per-article rule that the analysis meets; returns how many alerts are new."""
    raised = 0
    counts = analysis.technique_counts(trusted_only=True)  # a label not to be trusted raises no alert
    for rule in rules:
        if rule.score_at_least is not None and analysis.score >= rule.score_at_least:
            reason = f"score {analysis.score:.2f} is at least {rule.score_at_least:g}"
        elif rule.technique is not None and counts.get(rule.technique, 0) >= rule.at_least:
            reason = f"{techniques.get(rule.technique).name} found {counts[rule.technique]} times"
        else:
            continue
        payload = {"rule": rule.name, "reason": reason, "article": article_payload(analysis, analysis_id)}
        source = analysis.source.name if analysis.source else None
        raised += _raise(library, rule, str(analysis_id), source, analysis_id, payload)
    return raised


def raise_weekly(library: Library, rules: Sequence[Rule], sources: Sequence[str], *, today: date | None = None) -> int:
    """Raise each weekly rule once per source and week whose mean score rose by more than its
    threshold over the week before; returns how many alerts are new."""
    today = today or datetime.now(UTC).date()
    this_week = today - timedelta(days=today.weekday())
    last_week = this_week - timedelta(days=7)
    raised = 0
    for rule in (r for r in rules if r.is_weekly):
        for source in sources:
            rows = library.conn.execute(
                "SELECT id, score, coalesce(published, created_at) AS day FROM analyses "
                "WHERE source = ? AND coalesce(published, created_at) >= ?", (source, last_week.isoformat())
            ).fetchall()
            weeks: dict[date, list[tuple[float, int]]] = {this_week: [], last_week: []}
            for row in rows:
                start = _week_of(row["day"])
                if start in weeks:
                    weeks[start].append((row["score"], row["id"]))
            now_scores, before_scores = weeks[this_week], weeks[last_week]
            if min(len(now_scores), len(before_scores)) < rule.min_articles:
                continue
            mean_now = sum(s for s, _ in now_scores) / len(now_scores)
            mean_before = sum(s for s, _ in before_scores) / len(before_scores)
            assert rule.weekly_mean_rise is not None
            if mean_now - mean_before <= rule.weekly_mean_rise:
                continue
            _, top_id = max(now_scores)
            payload = {
                "rule": rule.name, "source": source, "week": this_week.isoformat(),
                "reason": f"{source}: mean score {mean_now:.2f} this week, {mean_before:.2f} the week before",
                "mean": round(mean_now, 4), "previous_mean": round(mean_before, 4),
                "article": article_payload(library.get(top_id).analysis, top_id),
            }
            raised += _raise(library, rule, f"{source}|{this_week.isoformat()}", source, top_id, payload)
    return raised


def _week_of(day: str) -> date | None:
    try:
        moment = datetime.fromisoformat(day.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.date() - timedelta(days=moment.weekday())


def _raise(library: Library, rule: Rule, key: str, source: str | None, analysis_id: int,
           payload: dict[str, Any]) -> int:
    with library.transaction() as conn:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, key, source, analysis_id, created_at, payload) VALUES (?,?,?,?,?,?)",
            (rule.name, key, source, analysis_id, now(), json.dumps(payload, ensure_ascii=False)),
        )
        if not cursor.rowcount:
            return 0
        conn.executemany("INSERT INTO alert_deliveries (alert_id, channel) VALUES (?, ?)",
                         [(cursor.lastrowid, channel) for channel in rule.channels])
    return 1


# ------------------------------------------------------------------ delivering


def deliver_pending(library: Library, rules: Sequence[Rule], smtp: Smtp | None, say: Callable[[str], None]) -> int:
    """Send every alert channel not yet delivered; returns how many failed this time."""
    by_name = {rule.name: rule for rule in rules}
    pending = library.conn.execute(
        "SELECT d.alert_id, d.channel, a.rule, a.payload FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.delivered_at IS NULL AND d.tries < ? ORDER BY d.alert_id, d.channel", (DELIVERY_TRIES,)
    ).fetchall()
    failed = 0
    for row in pending:
        rule = by_name.get(row["rule"])
        if rule is None:  # the rule left the watch file
            continue
        payload = json.loads(row["payload"])
        try:
            _send(row["channel"], rule, payload, smtp, say)
            error = None
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            failed += 1
            say(f"alert '{rule.name}' by {row['channel']} failed ({error}); tried again on the next pass")
        with library.transaction() as conn:
            conn.execute(
                "UPDATE alert_deliveries SET tries = tries + 1, delivered_at = ?, error = ? "
                "WHERE alert_id = ? AND channel = ?",
                (None if error else now(), error, row["alert_id"], row["channel"]),
            )
    return failed


def _send(channel: str, rule: Rule, payload: dict[str, Any], smtp: Smtp | None, say: Callable[[str], None]) -> None:
    if channel == "webhook":
        assert rule.webhook is not None
        _post(rule.webhook, payload)
    elif channel == "email":
        if smtp is None:
            raise OSError("no [smtp] server in the watch file")
        _mail(smtp, rule.email, payload)
    elif channel == "jsonl":
        assert rule.jsonl is not None
        with rule.jsonl.open("a", encoding="utf-8") as file:
            file.write(json.dumps(payload, ensure_ascii=False) + "\n")
            file.flush()
            os.fsync(file.fileno())
    else:
        say(f"ALERT {text_of(payload)}")


def text_of(payload: dict[str, Any]) -> str:
    """An alert in plain words: the rule, why, the article's link and its top findings."""
    article = payload["article"]
    findings = "; ".join(f"{f['technique']}: “{f['text']}” ({f['confidence']:.2f})" for f in article["findings"])
    return (f"[{payload['rule']}] {payload['reason']}. {article['title'] or '(no title)'} ({article['source']}) "
            f"{article['url']}" + (f" — {findings}" if findings else ""))


def _post(url: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
    for attempt in range(WEBHOOK_ATTEMPTS):
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            problem: OSError = OSError(f"{url} answered {exc.code} {exc.reason}")
            if exc.code < 500 and exc.code != 429:
                raise problem from None
        except (urllib.error.URLError, TimeoutError) as exc:
            problem = OSError(f"{url}: {getattr(exc, 'reason', exc)}")
        if attempt + 1 < WEBHOOK_ATTEMPTS:
            time.sleep(attempt + 1)
    raise problem


def _mail(smtp: Smtp, to: Sequence[str], payload: dict[str, Any]) -> None:
    message = EmailMessage()
    message["Subject"] = f"propscope alert: {payload['rule']} — {payload['article']['title'] or payload['article']['url']}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message.set_content(text_of(payload) + "\n\n" + json.dumps(payload, ensure_ascii=False, indent=2))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=WEBHOOK_TIMEOUT_S) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.username:
                server.login(smtp.username, os.environ.get(smtp.password_env or "", ""))
            server.send_message(message)
    except smtplib.SMTPException as exc:
        raise OSError(f"{smtp.host}:{smtp.port}: {exc}") from None
