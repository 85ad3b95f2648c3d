"""Notifications through Apprise: one URL reaches e-mail, Matrix, Slack,
Telegram, ntfy, webhooks and dozens more (https://github.com/caronc/apprise).

A message is made from an event (a change, a page failing N times in a row,
its recovery) with a Jinja2 template, in a sandbox: captured strings are
values in it, never template code. Apprise URLs carry secrets (tokens,
passwords); `mask_url` is how one is ever printed.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["DEFAULT_TEMPLATE", "check_apprise_url", "deliver", "mask_url", "render"]

log = logging.getLogger(__name__)

# The first line is the title; the rest the body.
DEFAULT_TEMPLATE = """\
{%- if event == 'changed' -%}
Changed: {{ title or url }}
{{ url }} changed at {{ captured_at }}{% if previous_timestamp %} (since the capture of {{ previous_timestamp }}){% endif %}.
{%- if words_added is not none %}
{{ words_added }} word(s) added, {{ words_removed }} removed.{% endif %}
{%- if added %}
Added: {{ added | truncate(400) }}{% endif %}
{%- if removed %}
Removed: {{ removed | truncate(400) }}{% endif %}
{%- if diff %}

{{ diff }}{% endif %}
{%- elif event == 'failing' -%}
Failing: {{ title or url }}
{{ url }} has been an error for {{ failures }} captures in a row: {{ verdict }}{% if reason %} ({{ reason }}){% endif %}.
{%- elif event == 'recovered' -%}
Recovered: {{ title or url }}
{{ url }} is back ({{ verdict }}) after {{ failures }} failed captures.
{%- elif event == 'new_pages' -%}
{{ new_count }} new page{{ '' if new_count == 1 else 's' }} in {{ title or url }}
{%- for p in new_pages %}
{{ p.title or p.url }}: {{ p.url }}{% endfor %}
{%- else -%}
{{ title or 'archiver' }}
{{ body or '' }}
{%- endif %}
{%- if diff_url %}

{{ diff_url }}{% endif %}
"""

@functools.cache
def _env() -> Any:
    """Templates are sandboxed: a watch's template is a user's, its fields a page's.
    (Jinja is loaded when a template is first checked or rendered.)"""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def check_template(text: str) -> str:
    from jinja2 import TemplateError

    try:
        _env().from_string(text)
    except TemplateError as exc:
        raise ConfigError(f"notification template: {exc}") from None
    return text


# Captured text that a chat service would read as a command: "@everyone",
# "@here", "@channel", "<!channel>", "<@U123>" mention a whole room. A
# zero-width space after "@" and "<" leaves the text readable and inert.
_MENTION = re.compile(r"([@<])(?=[!@#]?\w)")
CAPTURED_FIELDS = ("title", "reason", "added", "removed", "diff", "body")


def defang(text: str) -> str:
    return _MENTION.sub("\\1\u200b", text)


def render(event: dict[str, Any], template: str | None = None) -> tuple[str, str]:
    """(title, body) of a message. Strings that came from a page are defanged."""
    from jinja2 import TemplateError

    event = {k: defang(v) if k in CAPTURED_FIELDS and isinstance(v, str) else v for k, v in event.items()}
    try:
        text = _env().from_string(template or DEFAULT_TEMPLATE).render(**{
            "event": None, "url": None, "title": None, "verdict": None, "reason": None, "timestamp": None,
            "captured_at": None, "previous_timestamp": None, "words_added": None, "words_removed": None,
            "added": None, "removed": None, "diff": None, "diff_url": None, "failures": None, "body": None,
            "new_count": None, "new_pages": [],
            **event})
    except TemplateError as exc:  # a user's template failing on this event: still say something
        log.warning("notification template failed (%s); sending the default message", exc)
        text = _env().from_string(DEFAULT_TEMPLATE).render(**event)
    title, _, body = text.strip().partition("\n")
    return title.strip()[:250] or "archiver", body.strip()


def mask_url(url: str) -> str:
    """An Apprise URL as it may be printed: the scheme and host, with
    passwords, tokens and paths (where most services put their keys) hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    scheme = parts.scheme or "?"
    host = parts.hostname or ""
    user = parts.username
    shown = f"{scheme}://"
    if user:
        shown += (user[:2] + "…" if len(user) > 2 else user) + (":…@" if parts.password else "@")
    shown += host[:40]
    if parts.port:
        shown += f":{parts.port}"
    if parts.path.strip("/") or parts.query:
        shown += "/…"
    return shown


def check_apprise_url(url: str) -> str:
    """A URL Apprise knows how to send to, or a one-line error that never
    prints its secrets back."""
    import apprise

    url = (url or "").strip()
    if not url:
        raise ConfigError("empty notification URL")
    box = apprise.Apprise()
    if not box.add(url):
        raise ConfigError(f"not a notification URL Apprise can send to: {mask_url(url)}"
                          " (see https://github.com/caronc/apprise/wiki for the forms)")
    return url


def deliver(url: str, title: str, body: str) -> None:
    """Send one message; OSError (naming the target masked) when it did not go."""
    import apprise

    box = apprise.Apprise()
    if not box.add(url):
        raise OSError(f"{mask_url(url)}: not a notification URL Apprise can send to")
    try:
        ok = box.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # a plugin's own error: a failed delivery, retried later
        raise OSError(f"{mask_url(url)}: {type(exc).__name__}") from None
    if not ok:
        raise OSError(f"{mask_url(url)}: not delivered")
