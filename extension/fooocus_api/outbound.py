"""Requests the API makes to other hosts: input-image downloads and webhooks.

A URL from a client must not turn the API into a way into the machine's own
network. Every host is resolved first and refused when any of its addresses is
loopback, private, link-local (cloud metadata lives at 169.254.169.254),
multicast, reserved or unspecified, unless `--api-allow-hosts` names it. The
request then goes to the address that was checked (the Host header and TLS name
stay the original host), so a DNS answer that changes in between is not
followed. Redirects are followed one at a time and each is checked again.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

MAX_REDIRECTS = 5


class OutboundRefused(ValueError):
    """The URL may not be fetched; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    address: str


@dataclass(frozen=True)
class OutboundPolicy:
    allow_hosts: frozenset[str] = frozenset()

    def check(self, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused(f"'{url}' is not an http(s) URL")

        host = parts.hostname.lower()
        addresses = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        for address in addresses:
            if _is_internal(address) and not {host, address} & self.allow_hosts:
                raise OutboundRefused(
                    f"{host} resolves to {address}, an internal address; start the "
                    f"API with --api-allow-hosts {host} to allow it")
        return Target(url, host, addresses[0])

    @contextmanager
    def stream(self, method: str, url: str, timeout: float, **kwargs: object
               ) -> Iterator[httpx.Response]:
        """A request whose every hop is checked; redirects are followed for GET only."""
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = self.check(url)
                request = client.build_request(method, _pinned(target), **kwargs)
                request.headers["Host"] = urlsplit(url).netloc
                request.extensions["sni_hostname"] = target.host
                response = client.send(request, stream=True)
                location = response.headers.get("location")
                if method == "GET" and response.is_redirect and location:
                    response.close()
                    url = urljoin(url, location)
                    continue
                try:
                    yield response
                finally:
                    response.close()
                return
        raise OutboundRefused(f"more than {MAX_REDIRECTS} redirects")


def parse_allow_hosts(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(host.strip().lower().strip("[]") for host in text.split(",") if host.strip())


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OutboundRefused(f"cannot resolve {host}: {error.strerror}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or not ip.is_global)


def _pinned(target: Target) -> str:
    parts = urlsplit(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    netloc = address if parts.port is None else f"{address}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
