"""Secrets out of anything printed: a Redis URL with its password replaced by ``***``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``redis://user:secret@host:6379/0`` -> ``redis://user:***@host:6379/0``; a URL that
    cannot be parsed is hidden whole after its scheme (it may hold a password)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://(unparseable, hidden)"
