"""`HOST:PORT` listen addresses for `serve --metrics` and `serve --web`."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class Address:
    """Where a server listens."""

    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can connect (127.0.0.0/8, ::1, localhost)."""
        if self.host.lower() in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def is_wildcard(self) -> bool:
        """Whether it listens on every interface (0.0.0.0 or ::)."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False

    @property
    def netloc(self) -> str:
        """`host:port`, with brackets around an IPv6 literal."""
        return f"{_bracket(self.host)}:{self.port}"

    def url(self, path: str = "/") -> str:
        """The http URL of `path` on this address."""
        return f"http://{self.netloc}{path}"

    def with_port(self, port: int) -> Address:
        """The same host on another port (the real one after binding port 0)."""
        return Address(self.host, port)


def parse_address(text: str, default_host: str = "127.0.0.1") -> Address:
    """`HOST:PORT`, `:PORT`, `PORT` or `[IPv6]:PORT`; ValueError with a short reason otherwise."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        port_text = rest[1:]
        _check_ipv6(host, text)
    elif text.count(":") > 1:
        raise ValueError(f"put an IPv6 address in brackets, e.g. [::1]:9464 (got {text!r})")
    elif ":" in text:
        host, _, port_text = text.partition(":")
        host = host or default_host
    else:
        host, port_text = default_host, text
    if not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT with a numeric port, got {text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    if not _valid_host(host):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return Address(host, port)


def outward_host() -> str:
    """This machine's address on its default route (no packet is sent), else its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            # connect() on UDP only picks a route and a source address; 192.0.2.1 is TEST-NET-1.
            probe.connect(("192.0.2.1", 9))
            address = str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()
    return address if not ipaddress.ip_address(address).is_unspecified else socket.gethostname()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_ipv6(host: str, text: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"{host!r} in {text!r} is not an IPv6 address") from None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in labels)
    return True
