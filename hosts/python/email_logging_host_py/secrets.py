"""`erp:host/secrets`: the app registration the host supplies itself.

From the environment: `EMAIL_LOGGING_CLIENT_ID`, `EMAIL_LOGGING_CLIENT_SECRET`,
`EMAIL_LOGGING_REDIRECT_URL`, `EMAIL_LOGGING_EWS_PASSWORD`. Unset or empty
means `none` ("use the setup record's field"). Never logged.
"""

from __future__ import annotations

import os
from typing import Optional


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


class Secrets:
    """The `secrets` interface, read from the environment at each call."""

    def client_id(self) -> Optional[str]:
        return _env("EMAIL_LOGGING_CLIENT_ID")

    def client_secret(self) -> Optional[str]:
        return _env("EMAIL_LOGGING_CLIENT_SECRET")

    def redirect_url(self) -> Optional[str]:
        return _env("EMAIL_LOGGING_REDIRECT_URL")

    def ews_password(self) -> Optional[str]:
        return _env("EMAIL_LOGGING_EWS_PASSWORD")
