"""A comment's text as safe HTML: everything escaped first, then a tiny markdown subset on the escaped text.

Bold (`**x**`), italic (`*x*` or `_x_`), links (`[text](https://…)`, http, https and mailto only) and line
breaks. Because the markup is applied after escaping, no character a user typed can open a tag or an attribute:
a link's address is already escaped (its quotes are `&quot;`), so it cannot leave the `href`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_LINK = re.compile(r"\[([^\]\n]{1,200})\]\(((?:https?://|mailto:)[^\s()]{1,500})\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")


def render_comment(body: str, mentioned_names: Iterable[str] = ()) -> SafeString:
    """`body` as HTML; each `@Name` of a mentioned member is highlighted."""
    text = str(escape(body.replace("\r\n", "\n")))
    links: list[str] = []

    def _stash_link(match: re.Match[str]) -> str:
        links.append(f'<a href="{match.group(2)}" rel="nofollow noopener noreferrer">{match.group(1)}</a>')
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(_stash_link, text)  # link addresses keep their underscores and asterisks
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    for name in sorted({str(escape(n)) for n in mentioned_names if n}, key=len, reverse=True):
        text = re.sub(rf"@{re.escape(name)}\b", f'<span class="mention">@{name}</span>', text, flags=re.IGNORECASE)
    text = re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)
    return mark_safe(text.replace("\n", "<br>"))  # noqa: S308  # built from escaped text above


def names_mentioned(body: str, candidates: Iterable[tuple[object, str]]) -> list[object]:
    """Keys of the candidates (key, display name) whose `@Name` appears in `body`, longest names first."""
    lowered = body.lower()
    found = []
    for key, name in sorted(candidates, key=lambda c: len(c[1]), reverse=True):
        if name and re.search(rf"@{re.escape(name.lower())}(?!\w)", lowered):
            found.append(key)
    return found
