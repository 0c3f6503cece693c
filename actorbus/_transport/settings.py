"""NATS connection settings (stdlib only): URLs from arguments or ``NATS_URL``, credentials
kept out of logs and errors, TLS files, creds files."""

from __future__ import annotations

import importlib.util
import os
import ssl

from .base import TransportError

__all__ = [
    "NatsConnectError",
    "creds_file",
    "redact",
    "scrub",
    "server_urls",
    "tls_context",
    "url_secrets",
]


class NatsConnectError(TransportError):
    """The first connection to NATS could not be made (bad settings, unreachable, refused)."""


def redact(url: str) -> str:
    """``nats://user:pw@host:4222`` → ``nats://***@host:4222``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    _, at, hostpart = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}***@{hostpart}"


def url_secrets(urls: list[str]) -> list[str]:
    """Passwords and tokens in the URLs (to `scrub` from messages). A user name is not a
    secret: scrubbing a short one would mangle every word containing it."""
    found: list[str] = []
    for url in urls:
        rest = url.partition("://")[2] or url
        userinfo, at, _ = rest.rpartition("@")
        if at:
            user, colon, password = userinfo.partition(":")
            found += [password, userinfo] if colon else [user]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def server_urls(url: str | None) -> list[str]:
    raw = url if url is not None else os.environ.get("NATS_URL", "")
    urls = [part.strip() for part in raw.split(",") if part.strip()]
    if not urls:
        raise NatsConnectError("no NATS server given: pass a URL or set NATS_URL")
    return urls


def tls_context(
    tls: ssl.SSLContext | None, ca: str | None, cert: str | None, key: str | None
) -> ssl.SSLContext | None:
    if tls is not None:
        return tls
    ca = ca or os.environ.get("NATS_CA") or None
    cert = cert or os.environ.get("NATS_CERT") or None
    key = key or os.environ.get("NATS_KEY") or None
    if not (ca or cert or key):
        return None
    if key and not cert:
        raise NatsConnectError("a TLS key was given without a TLS certificate (tls_cert)")
    try:
        context = ssl.create_default_context(cafile=ca)
        if cert:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise NatsConnectError(f"cannot load the TLS files: {exc}") from exc
    return context


def creds_file(creds: str | None) -> str | None:
    creds = creds or os.environ.get("NATS_CREDS") or None
    if creds is None:
        return None
    if not os.path.isfile(creds):
        raise NatsConnectError(f"NATS credentials file not found: {creds}")
    if importlib.util.find_spec("nkeys") is None:
        raise NatsConnectError("NATS credentials files need the nkeys package (pip install nkeys)")
    return creds
