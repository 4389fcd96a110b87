"""Credentials kept out of every record, log line and message, and off plain-http wires.

An endpoint URL may carry credentials: ``https://user:pass@host/v1`` or a
query parameter such as ``?api_key=...``. :func:`redact_url` is the URL with
them replaced by ``***`` (the form that is recorded, printed and hashed; a URL
without credentials comes back unchanged), :func:`url_secrets` the strings to
scrub from text a server or a library produced, and :func:`scrub` scrubs them.
:func:`safe_for_secrets` decides from the parsed URL alone, never by resolving
a name, whether a credential may be sent to it.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from urllib.parse import unquote, urlsplit

# Query parameters whose values are credentials (api_key, access_token, sig, password, ...).
SECRET_PARAMETER = re.compile(r"key|token|secret|pass|pwd|auth|sig|credential|session", re.IGNORECASE)
MASK = "***"


def _secret_parameters(query: str) -> list[tuple[int, str, str]]:
    """(index, name, raw value) of each ``&``-separated query parameter whose name marks a credential."""
    found = []
    for i, part in enumerate(query.split("&")):
        name, sep, value = part.partition("=")
        if sep and value and SECRET_PARAMETER.search(unquote(name)):
            found.append((i, name, value))
    return found


def redact_url(url: str) -> str:
    """``url`` with its user information and credential query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: show nothing of it rather than risk a secret
        return "(unparseable URL)"
    netloc = f"{MASK}@{parts.netloc.rpartition('@')[2]}" if "@" in parts.netloc else parts.netloc
    query = parts.query.split("&")
    for i, name, _ in _secret_parameters(parts.query):
        query[i] = f"{name}={MASK}"
    if netloc == parts.netloc and query == parts.query.split("&"):
        return url
    return parts._replace(netloc=netloc, query="&".join(query)).geturl()


def url_secrets(url: str) -> list[str]:
    """The credential strings in ``url`` as they may show up in text: raw, percent-decoded and as Basic auth."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [value for _, _, value in _secret_parameters(parts.query)]
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        plain = f"{unquote(user)}:{unquote(password)}"
        found += [userinfo, password, plain, base64.b64encode(plain.encode()).decode()]
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***`` (longest first, so parts of one go too)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def safe_for_secrets(url: str) -> bool:
    """Whether a credential may travel to ``url``: https, or plain http to a loopback address.

    Loopback is ``localhost``, ``127.0.0.0/8`` or ``::1`` as written in the URL;
    any other name is refused even if it would resolve to loopback.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() == "https":
        return True
    if parts.scheme.lower() != "http" or not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback
