"""Who may use the dashboard, and which requests may change something.

- Cross-site requests: every action is a POST that must come from the dashboard's own origin
  (``Sec-Fetch-Site``, else ``Origin`` compared with ``Host``) and carry the CSRF token the
  pages embed (a page of another origin cannot read it). A token is an HMAC of the app's
  secret, so replicas given the same secret accept each other's pages.
- Authentication (optional, the standalone server sets it from the environment): a bearer
  token or HTTP basic credentials, compared in constant time. A mounting app may bring its
  own authentication instead and pass ``auth=None``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from tandemq.common.errors import ConfigError

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SAME_SITE = frozenset({"same-origin", "none"})  # "none": typed URL, bookmark, curl


class Refused(HTTPException):
    """An action the dashboard will not do (read-only mode, cross-site, bad token): 403."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class Csrf:
    def __init__(self, secret: str | None = None) -> None:
        key = (secret or secrets.token_urlsafe(32)).encode()
        self.token = hmac.new(key, b"tandemq-dashboard-csrf", hashlib.sha256).hexdigest()

    def valid(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def cross_site_reason(headers: Headers, trusted_origins: frozenset[str]) -> str | None:
    """Why a state-changing request looks cross-site, or None when it comes from our pages.

    Browsers send Sec-Fetch-Site (and Origin) on every POST; a client that sends neither
    (curl, a script) is not a browser driven by another site, and still needs the token."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE:
        return f"Sec-Fetch-Site is {fetch_site!r}"
    origin = headers.get("origin")
    if origin is None or origin.rstrip("/") in trusted_origins:
        return None
    if origin == "null" or urlsplit(origin).netloc != headers.get("host", ""):
        return f"Origin {origin!r} is not this dashboard's"
    return None


@dataclass(frozen=True, slots=True)
class Auth:
    """Credentials the standalone server asks for: a bearer token, or basic user/password."""

    token: str | None = None
    username: str | None = None
    password: str | None = None

    def allows(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.token is not None:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme == "basic" and self.username is not None and self.password is not None:
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            same_user = hmac.compare_digest(user.encode(), self.username.encode())
            same_password = hmac.compare_digest(password.encode(), self.password.encode())
            return same_user and same_password
        return False

    @property
    def challenge(self) -> str:
        return 'Basic realm="tandemq"' if self.username is not None else "Bearer"

    @classmethod
    def from_env(cls) -> Auth | None:
        """TANDEMQ_DASHBOARD_TOKEN, or TANDEMQ_DASHBOARD_USERNAME with _PASSWORD; None if unset."""
        token = os.environ.get("TANDEMQ_DASHBOARD_TOKEN") or None
        username = os.environ.get("TANDEMQ_DASHBOARD_USERNAME") or None
        password = os.environ.get("TANDEMQ_DASHBOARD_PASSWORD") or None
        if (username is None) != (password is None):
            raise ConfigError(
                "set both TANDEMQ_DASHBOARD_USERNAME and TANDEMQ_DASHBOARD_PASSWORD, or neither"
            )
        if token is None and username is None:
            return None
        return cls(token=token, username=username, password=password)
