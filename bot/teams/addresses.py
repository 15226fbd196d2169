"""Which addresses the bot will talk to: https anywhere, plain http only to this machine.

Plain http is for tests and the Bot Framework Emulator on loopback; anything that carries keys, tokens
or files elsewhere must be https.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def on_this_machine(url: object) -> bool:
    """Whether a URL names a loopback host (localhost, 127.0.0.0/8, ::1)."""
    if not isinstance(url, str):
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_or_local(url: str) -> bool:
    """An https URL with a host, or an http URL to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and on_this_machine(url)
