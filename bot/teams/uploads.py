"""Putting a file's bytes where Teams asked for them: the upload URL of a file consent acceptance.

When a person allows a file, Teams creates it in their OneDrive and hands the bot an upload session's
URL. The URL is pre-authenticated: it must be sent no `Authorization` header (and never the bot's
token). OneDrive takes the file in byte ranges, in order, each PUT naming its range in
`Content-Range: bytes {first}-{last}/{total}`; a range may be the whole file. Ranges other than the
last must be a multiple of 320 KiB and Teams' guidance is to send at most 4 MB at a time, so files up
to `DEFAULT_CHUNK_BYTES` (12 × 320 KiB, 3.75 MiB) go in one PUT and larger ones in ranges of that
size. OneDrive answers 202 while it expects more and 200 or 201 once the file is whole.

Every request has a timeout; any failure (a refusal, a connection error, a timeout, a session that
still wants bytes after the last range) is raised as `UploadFailed` with a short reason for the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from yarl import URL

from bot.teams.addresses import secure_or_local
from bot.teams.proxies import Proxies

log = logging.getLogger(__name__)

RANGE_UNIT = 320 * 1024
"""OneDrive upload sessions take ranges in multiples of 320 KiB (all but the last)."""
DEFAULT_CHUNK_BYTES = 12 * RANGE_UNIT
"""3.75 MiB: a multiple of 320 KiB and under the 4 MB Teams advises per request."""
_DONE = frozenset({200, 201})
_MORE = 202


class UploadFailed(Exception):
    """The file did not reach the upload URL; `reason` is short and holds no file content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UploadSettings:
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    """Bytes per PUT; a multiple of 320 KiB, as OneDrive requires of every range but the last."""
    timeout: float = 60.0
    """Seconds each PUT may take, connection included."""

    def __post_init__(self) -> None:
        if self.chunk_bytes <= 0 or self.chunk_bytes % RANGE_UNIT:
            raise ValueError(f"chunk_bytes must be a positive multiple of {RANGE_UNIT} (320 KiB)")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


def upload_ranges(total: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """(first, last) byte of each PUT, inclusive, in order: [(0, total - 1)] when one PUT holds it all."""
    if total <= 0:
        raise ValueError("an upload needs at least one byte")
    return [(start, min(start + chunk_bytes, total) - 1) for start in range(0, total, chunk_bytes)]


def check_upload_url(url: str) -> None:
    """An upload URL must be HTTPS; plain HTTP only to this machine (a local fake of OneDrive)."""
    if not secure_or_local(url):
        raise UploadFailed("the upload URL is not an https URL")


async def upload(url: str, data: bytes, settings: UploadSettings | None = None) -> None:
    """PUT `data` to a OneDrive upload session URL, range by range (see the module docstring)."""
    settings = settings or UploadSettings()
    check_upload_url(url)
    if not data:
        raise UploadFailed("the file is empty")
    total = len(data)
    ranges = upload_ranges(total, settings.chunk_bytes)
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    try:
        proxy, proxy_headers = (await Proxies.from_environment()).route(URL(url))
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for number, (first, last) in enumerate(ranges, start=1):
                headers = {
                    "Content-Length": str(last - first + 1),
                    "Content-Range": f"bytes {first}-{last}/{total}",
                }
                part = data[first : last + 1]
                async with http.put(
                    url, data=part, headers=headers, proxy=proxy, proxy_headers=proxy_headers
                ) as response:
                    status = response.status
                    await response.read()
                final = number == len(ranges)
                if status in _DONE and final:
                    return
                if status != _MORE or final:
                    raise UploadFailed(f"range {number} of {len(ranges)} answered {status}")
    except aiohttp.ClientError as error:
        raise UploadFailed(type(error).__name__) from error
    except TimeoutError as error:
        raise UploadFailed(f"timed out after {settings.timeout:g} s") from error
