"""The images of vision chat requests: ``data:`` URIs decoded, ``http(s)`` URLs fetched.

Core fetches images, never a backend, and treats every URL as hostile: only http and
https (on every redirect too), only public addresses unless ``[image_fetch]`` allows
private ones, a total timeout, a size cap enforced while reading, and bytes that must
really be PNG, JPEG, WebP or GIF. Every image is decoded here once, with a bound on its
pixels, so a backend only ever receives an image that decodes. Every failure is an
:class:`InvalidImage` (a 400 that names the content part), never a server error: a URL
that does not work is the client's to fix.

The bytes read, and the pixels while an image is verified, are taken from the
server-wide :class:`~modelport.core.image_budget.ImageBudget` through the request's
hold; a failed fetch clears its buffer at once, so nothing it read waits for the
garbage collector.

The name is resolved once, every address is checked, and the connection goes to a
checked address (the URL's name still travels in the Host header and as the TLS server
name, so virtual hosts and certificates work). Re-resolving at connect time would let a
name answer a public address to the check and a private one to the connection (DNS
rebinding).
"""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import socket
import struct
from collections.abc import Sequence

import httpx
import msgspec

from .config import ImageFetchConfig
from .errors import InvalidImage
from .image_budget import ImageBudget, ImageHold

__all__ = ["MEDIA_TYPES", "FetchedImage", "fetch_image", "fetch_images"]

# The image types accepted, as OpenAI's vision models accept them.
MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = ("http", "https")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Fetches in flight at once for one request.
_CONCURRENCY = 8
_HEADERS = {
    "Accept": ", ".join(MEDIA_TYPES),
    "Accept-Encoding": "identity",
    "User-Agent": "modelport",
}
# A small kernel receive buffer bounds how much one read of the event loop takes from a
# fast image server before this code has consumed (and budgeted) it: uvloop reads a
# socket up to 32 times per wake-up, and httpx's stream queues all of it.
_SOCKET_OPTIONS = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)]
_NOT_PUBLIC = (
    "the server fetches images only from public addresses; set "
    "[image_fetch] allow_private_networks = true to allow others"
)


class FetchedImage(msgspec.Struct, frozen=True, kw_only=True):
    """An image's bytes and its media type, as told by the bytes themselves."""

    data: bytes
    media_type: str


async def fetch_image(
    url: str, param: str, config: ImageFetchConfig, hold: ImageHold | None = None
) -> FetchedImage:
    """The image a content part points at: a ``data:`` URI or an ``http(s)`` URL,
    decoded once to prove it is an image.

    ``param`` is the request path of the part (``messages[0].content[1]``); every error
    is an :class:`InvalidImage` that carries it. The bytes are taken from ``hold``
    (without one, from a budget of this call's own).
    """
    if hold is None:
        hold = ImageBudget(config.max_inflight_bytes).hold()
    if url[:5].lower() == "data:":
        data, where = _decode_data_uri(url, param, config.max_bytes, hold), "the data URI"
    else:
        target = _parse(url, param)
        data, where = await _fetch_timed(target, param, config, hold), _show(target)
    return await _verified(data, param, where, config, hold)


async def fetch_images(
    parts: Sequence[tuple[str, str]], config: ImageFetchConfig, hold: ImageHold
) -> list[FetchedImage]:
    """The images of ``(url, param)`` pairs, fetched concurrently, in order.

    The first failure cancels the other fetches and is raised.
    """
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(url: str, param: str) -> FetchedImage:
        async with limit:
            return await fetch_image(url, param, config, hold)

    tasks = [asyncio.ensure_future(one(url, param)) for url, param in parts]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        # The failure's traceback holds this frame, and the tasks hold the failure and
        # the images already fetched: a cycle that would keep them until a full
        # garbage collection.
        tasks.clear()


# --- data: URIs --------------------------------------------------------------------


def _decode_data_uri(url: str, param: str, max_bytes: int, hold: ImageHold) -> bytes:
    header, comma, payload = url[5:].partition(",")
    media_type, *options = (p.strip().lower() for p in header.split(";"))
    if not comma or options[-1:] != ["base64"]:
        raise _invalid(param, "the data URI must be base64: data:image/png;base64,<data>")
    if media_type not in MEDIA_TYPES:
        raise _unsupported(param, f"the data URI's media type is {media_type or 'missing'!r}")
    if len(payload) > 4 * ((max_bytes + 2) // 3):
        raise _too_large(param, "the data URI's image", max_bytes)
    hold.take(len(payload) * 3 // 4, param)
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise _invalid(param, "the data URI's payload is not valid base64") from None
    if len(data) > max_bytes:
        raise _too_large(param, "the data URI's image", max_bytes)
    return data


# --- http(s) URLs ------------------------------------------------------------------


def _parse(url: str, param: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _invalid(param, f"image URL {_show(url)} is not a valid URL: {exc}") from None
    return _checked(target, param)


def _checked(url: httpx.URL, param: str) -> httpx.URL:
    """``url`` if its scheme may be fetched and it names a host."""
    if not url.scheme:
        raise _invalid(param, f"image URL {_show(url)} has no scheme; use https:// or data:")
    if url.scheme not in _SCHEMES:
        raise InvalidImage(
            f"image URL scheme {url.scheme!r} is not allowed; use https://, http:// or data:",
            param=param,
            code="image_url_not_allowed",
        )
    if not url.raw_host:
        raise _invalid(param, f"image URL {_show(url)} has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise _invalid(param, f"image URL {_show(url)} has an invalid port {url.port}")
    return url


async def _fetch_timed(
    url: httpx.URL, param: str, config: ImageFetchConfig, hold: ImageHold
) -> bytes:
    seconds = config.timeout_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await _fetch(url, param, config, hold)
    except TimeoutError:
        raise _failed(param, f"fetching {_show(url)} took longer than {seconds:g}s") from None
    except httpx.HTTPError as exc:
        raise _failed(param, f"fetching {_show(url)} failed: {exc}") from None


async def _fetch(url: httpx.URL, param: str, config: ImageFetchConfig, hold: ImageHold) -> bytes:
    # No environment proxies (they would connect by name, past the address check) and no
    # kept connections (one to an address must not serve another name's request).
    limits = httpx.Limits(max_keepalive_connections=0)
    transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=_SOCKET_OPTIONS)
    async with httpx.AsyncClient(trust_env=False, timeout=None, transport=transport) as client:
        for _ in range(config.max_redirects + 1):
            response = await _send(client, url, param, config.allow_private_networks)
            try:
                if response.status_code not in _REDIRECTS:
                    return await _read(response, url, param, config.max_bytes, hold)
                url = _redirect_target(response, url, param)
            finally:
                await response.aclose()
    raise _failed(param, f"the image URL redirected more than {config.max_redirects} times")


async def _send(
    client: httpx.AsyncClient, url: httpx.URL, param: str, allow_private: bool
) -> httpx.Response:
    """GET ``url`` from the first of its checked addresses that accepts a connection."""
    headers = {**_HEADERS, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    error: httpx.ConnectError | None = None
    for address in await _addresses(url, param, allow_private):
        pinned = url.copy_with(host=str(address))
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = exc
    raise _failed(param, f"cannot connect to {_show(url)}: {error}")


async def _addresses(url: httpx.URL, param: str, allow_private: bool) -> list[IPAddress]:
    """The addresses of the URL's host, each one checked against the policy."""
    host = url.raw_host.decode("ascii")
    try:
        found = [_address(host)]
    except ValueError:
        found = await _resolve(host, url.port or (443 if url.scheme == "https" else 80), param)
    if not allow_private:
        for address in found:
            kind = _non_public(address)
            if kind is not None:
                raise InvalidImage(
                    f"image URL host {host} is {kind} address ({address}); {_NOT_PUBLIC}",
                    param=param,
                    code="image_url_not_allowed",
                )
    return found


async def _resolve(host: str, port: int, param: str) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _failed(param, f"cannot resolve image URL host {host!r}: {exc}") from None
    found: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = _address(str(sockaddr[0]))
            if address not in found:
                found.append(address)
    if not found:
        raise _failed(param, f"image URL host {host!r} has no IP address")
    return found


def _address(text: str) -> IPAddress:
    """An IP address without its IPv6 scope ("%eth0"), which cannot go into a URL;
    ValueError if ``text`` is not one."""
    return ipaddress.ip_address(text.partition("%")[0])


def _non_public(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback"), or None. An IPv6
    address that carries an IPv4 one (mapped, 6to4, Teredo) is judged by both."""
    judged: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            judged = [address.ipv4_mapped]  # ::ffff:0:0/96 itself counts as reserved
        teredo = address.teredo or ()
        judged += [a for a in (address.sixtofour, *teredo) if a is not None]
    for each in judged:
        kinds = (
            ("a loopback", each.is_loopback),
            ("an unspecified", each.is_unspecified),
            ("a link-local", each.is_link_local),
            ("a multicast", each.is_multicast),
            ("a private", each.is_private),
            ("a reserved", each.is_reserved),
            ("a non-public", not each.is_global),
        )
        for kind, matches in kinds:
            if matches:
                return kind
    return None


def _redirect_target(response: httpx.Response, url: httpx.URL, param: str) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise _failed(param, f"{_show(url)} answered HTTP {response.status_code} with no Location")
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise _failed(param, f"{_show(url)} redirected to an invalid URL: {exc}") from None
    return _checked(target, param)


async def _read(
    response: httpx.Response, url: httpx.URL, param: str, max_bytes: int, hold: ImageHold
) -> bytes:
    if not response.is_success:
        raise _failed(param, f"{_show(url)} answered HTTP {response.status_code}")
    declared = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if declared not in MEDIA_TYPES:
        raise _unsupported(param, f"{_show(url)} has Content-Type {declared or 'none'!r}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_large(param, _show(url), max_bytes)
    # The body as the list of chunks read (64 KiB at most each): no buffer is
    # reallocated and copied as it grows; one join at the end.
    body: list[bytes] = []
    size = 0
    # Closed explicitly: an abandoned async generator keeps httpx's stream, connection
    # and socket read-ahead in a reference cycle until the cycle collector runs.
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            hold.take(len(chunk), param)
            body.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(param, _show(url), max_bytes)
        return b"".join(body)
    finally:
        # A failure's traceback keeps this frame alive until the cycle collector runs:
        # free what it holds now.
        body.clear()
        chunk = b""
        await chunks.aclose()  # type: ignore[attr-defined]


# --- verifying ---------------------------------------------------------------------

# Pillow's name of each format, so that it decodes only the format the bytes claim.
_PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}
# What Pillow raises on bytes it cannot decode: a truncated or corrupt file, a broken
# chunk, a header with impossible values.
_UNDECODABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


async def _verified(
    data: bytes, param: str, where: str, config: ImageFetchConfig, hold: ImageHold
) -> FetchedImage:
    """``data`` as a :class:`FetchedImage` once Pillow has decoded it whole: its header,
    a pixel count within ``max_pixels``, and every pixel (the pixels' memory is held
    from the budget while they are decoded, on a worker thread)."""
    from PIL import Image

    media_type = _sniff(data)
    if media_type is None:
        raise _unsupported(param, f"{where} is not a PNG, JPEG, WebP or GIF image")
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[media_type]])
    except Image.DecompressionBombError:
        raise _too_many_pixels(param, where, config.max_pixels) from None
    except _UNDECODABLE as exc:
        raise _corrupt(param, where, media_type, exc) from None
    with image:
        width, height = image.size
        if width * height > config.max_pixels:
            raise _too_many_pixels(param, where, config.max_pixels)
        pixels = width * height * max(1, len(image.getbands()))
        hold.take(pixels, param)
        try:
            await asyncio.to_thread(image.load)
        except _UNDECODABLE as exc:
            raise _corrupt(param, where, media_type, exc) from None
        finally:
            hold.give(pixels)
    return FetchedImage(data=data, media_type=media_type)


# --- shared ------------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """The media type that the magic bytes at the start of ``data`` say, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _show(url: str | httpx.URL, limit: int = 100) -> str:
    text = str(url)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _invalid(param: str, message: str) -> InvalidImage:
    return InvalidImage(message, param=param, code="invalid_image_url")


def _failed(param: str, message: str) -> InvalidImage:
    return InvalidImage(
        f"{message}; give an image URL this server can fetch, or send the image as a data: URI",
        param=param,
        code="image_fetch_failed",
    )


def _too_large(param: str, what: str, max_bytes: int) -> InvalidImage:
    return InvalidImage(
        f"{what} is larger than {max_bytes} bytes ([image_fetch] max_bytes); send a smaller image",
        param=param,
        code="image_too_large",
    )


def _corrupt(param: str, where: str, media_type: str, exc: Exception) -> InvalidImage:
    return InvalidImage(
        f"{where} starts like a {_PILLOW_FORMATS[media_type]} image but does not decode "
        f"({exc}); send a complete, valid image",
        param=param,
        code="invalid_image",
    )


def _too_many_pixels(param: str, where: str, max_pixels: int) -> InvalidImage:
    return InvalidImage(
        f"{where} has more than {max_pixels} pixels ([image_fetch] max_pixels); send a "
        "smaller image",
        param=param,
        code="image_too_large",
    )


def _unsupported(param: str, message: str) -> InvalidImage:
    return InvalidImage(
        f"{message}; send a PNG, JPEG, WebP or GIF image",
        param=param,
        code="unsupported_image_type",
    )
