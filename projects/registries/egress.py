"""The outbound connection policy: where the server may connect on a user's behalf (S3 endpoints, SQL hosts, model
registries, the model hub).

Method. A host is resolved (every address getaddrinfo returns) and each address is checked: it is refused when it is
not publicly routable (loopback, link-local, private, unspecified, multicast, reserved, carrier-grade NAT, ...), with
IPv4-mapped and NAT64 IPv6 forms judged by the IPv4 address inside, or when it is an address of this server's own
database, message broker or cache. One refused address refuses the host, since the client may pick any of them.
The operator lifts the policy for named hosts or networks with OUTBOUND_ALLOWED_HOSTS (comma-separated host names,
addresses or CIDR networks); a host name listed there is trusted whatever it resolves to.

When. An integration is checked when it is saved (a name that does not resolve yet passes: it may resolve only on a
worker near the data) and again right before every connection: SQL engines are pointed at the checked address, and S3
clients use a connection class that checks the address it is about to connect to, so a name that resolves
differently later (DNS rebinding) is caught at the moment of connecting.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SETTING = "OUTBOUND_ALLOWED_HOSTS"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
HOST_RE = re.compile(r"^[a-z0-9_.:%-]{1,253}$")


class EgressRefused(Exception):
    """The server will not connect there; the message names the host, the reason and the setting that allows it."""


@dataclass(frozen=True)
class Allowance:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]


def allowance() -> Allowance:
    """OUTBOUND_ALLOWED_HOSTS parsed: entries that parse as an address or network are networks, others host names."""
    names, networks = set(), []
    for entry in getattr(settings, SETTING, []) or []:
        entry = str(entry).strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry)
    return Allowance(frozenset(names), tuple(networks))


def host_of(url: str) -> tuple[str, int | None]:
    """(host, port) of a URL; a URL without a host is refused (nothing to check)."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise EgressRefused(f"{url} is not a valid URL ({error}).") from None
    if not host:
        raise EgressRefused(f"{url} names no host.")
    return host, port


def check_url(url: str, *, what: str, at_save: bool = False) -> tuple[str, ...]:
    host, port = host_of(url)
    default = 443 if url.lower().startswith("https") else 80
    return check_host(host, port or default, what=what, at_save=at_save)


def check_host(host: str, port: int | None, *, what: str, at_save: bool = False) -> tuple[str, ...]:
    """The addresses `host` resolves to, all allowed; raises EgressRefused otherwise. At save time a name that does
    not resolve passes (it is checked again on connecting), at connect time it is refused."""
    host = (host or "").strip().lower().rstrip(".").strip("[]")
    if not host:
        raise EgressRefused(f"{what}: no host given.")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")   # an internationalised name, as DNS sees it
        except UnicodeError:
            raise EgressRefused(f"{what}: “{host[:100]}” is not a valid host name.") from None
    if not HOST_RE.match(host):
        # libpq reads "a,b" as several hosts and "/path" as a unix socket: neither is one checkable host.
        raise EgressRefused(f"{what}: “{host[:100]}” is not a host name or an IP address.")
    allowed = allowance()
    try:
        addresses = resolve(host, port)
    except EgressRefused as error:
        if at_save or host in allowed.names:
            return ()
        raise EgressRefused(f"{what}: {error}") from None
    if host in allowed.names:
        return tuple(str(address) for address in addresses)
    own = own_addresses()
    for address in addresses:
        if any(address in network or _embedded_ipv4(address) in network for network in allowed.networks):
            continue
        reason = refusal_reason(address, own)
        if reason:
            raise EgressRefused(_refusal(what, host, address, reason))
    return tuple(str(address) for address in addresses)


def resolve(host: str, port: int | None) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise EgressRefused(f"Cannot resolve {host} from this server ({error}).") from None
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    if not found:
        raise EgressRefused(f"Cannot resolve {host} from this server.")
    return found


def refusal_reason(address: IPAddress, own: dict[IPAddress, str] | None = None) -> str:
    """Why an address is off limits ("" when it is a public address of someone else)."""
    address = _embedded_ipv4(address)
    kind = _address_kind(address)
    if own and address in own:  # e.g. a loopback database in development: say both
        return f"{kind}, the address of this server's own {own[address]}" if kind else \
            f"the address of this server's own {own[address]}"
    return kind


def _address_kind(address: IPAddress) -> str:
    for label, flag in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                        ("unspecified", address.is_unspecified), ("multicast", address.is_multicast),
                        ("private", address.is_private), ("reserved", address.is_reserved)):
        if flag:
            return f"{'an' if label[0] in 'aeiou' else 'a'} {label} address"
    if not address.is_global:
        return "an address that is not publicly routable"
    return ""


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """::ffff:127.0.0.1, 64:ff9b::7f00:1, 6to4 2002:7f00:1:: (2002::/16, the IPv4 in bits 16-48) and Teredo
    2001:0:...:80ff:fffe (2001::/32, the client IPv4 is the last 32 bits XOR 0xffffffff) reach 127.0.0.1 where a
    gateway or relay unwraps them: judge the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address in NAT64_PREFIX:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour:
            return address.sixtofour
        if address.teredo:
            return address.teredo[1]  # (server, client): the client is the host the packet is for
    return address


def own_addresses() -> dict[IPAddress, str]:
    """Addresses of the server's own database(s), broker and cache, which no user may reach through an integration
    even when they are public."""
    hosts = []
    for alias in settings.DATABASES.values():
        if alias.get("HOST"):
            hosts.append((str(alias["HOST"]), "database"))
    for url, label in ((getattr(settings, "CELERY_BROKER_URL", ""), "message broker"),
                       (getattr(settings, "REDIS_CACHE_URL", ""), "cache")):
        host = urlsplit(url or "").hostname if "//" in (url or "") else None
        if host:
            hosts.append((host, label))
    return _resolve_own(tuple(hosts))


@functools.lru_cache(maxsize=16)
def _resolve_own(hosts: tuple[tuple[str, str], ...]) -> dict[IPAddress, str]:
    # Cached per configuration: the server's own hosts are fixed for the life of the process.
    found: dict[IPAddress, str] = {}
    for host, label in hosts:
        try:
            for address in resolve(host.strip("[]"), None):
                found.setdefault(_embedded_ipv4(address), label)
        except EgressRefused:
            continue  # a unix socket path or an unresolvable name: nothing to compare against
    return found


def _refusal(what: str, host: str, address: IPAddress, reason: str) -> str:
    via = "" if _same_address(host, address) else f" resolves to {address}, which"
    return (f"{what}: {host}{via} is {reason}; this server does not connect there on a user's behalf. An operator "
            f"can allow it with the {SETTING} setting (comma-separated hosts or networks, e.g. {host}).")


def _same_address(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


# --- a urllib3 connection that checks the address it connects to (used by the S3 clients) -----------------------------


def checked_create_connection(host: str, port: int, timeout, source_address=None, socket_options=None):
    """urllib3.util.connection.create_connection, but only to addresses the policy allows, checked now."""
    from urllib3.util import connection

    addresses = check_host(host, port, what="Outbound connection")
    last_error: OSError | None = None
    for address in addresses:
        try:
            return connection.create_connection((address, port), timeout, source_address=source_address,
                                                socket_options=socket_options)
        except OSError as error:
            last_error = error
    raise last_error or OSError(f"Cannot connect to {host}:{port}.")


@functools.cache
def guarded_pool_classes() -> dict[str, type]:
    """botocore's connection pools with a connection class whose socket goes only to a checked address. TLS still
    verifies the host name: only the socket's destination is pinned."""
    import socket as socket_module

    from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    def _new_conn(self) -> socket_module.socket:
        try:
            return checked_create_connection(self._dns_host, self.port, self.timeout,
                                             source_address=self.source_address, socket_options=self.socket_options)
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error

    pools = {}
    for scheme, pool in (("http", AWSHTTPConnectionPool), ("https", AWSHTTPSConnectionPool)):
        connection_class = type(f"Checked{pool.ConnectionCls.__name__}", (pool.ConnectionCls,), {"_new_conn": _new_conn})
        pools[scheme] = type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": connection_class})
    return pools


def guard_boto_client(client) -> None:
    """Makes every connection of this boto3 client go through the policy (other clients, e.g. the server's own
    storage, are untouched). Fails closed when botocore's layout changed."""
    session = client._endpoint.http_session
    pools = guarded_pool_classes()
    session._pool_classes_by_scheme = pools      # proxy managers made later take these
    session._manager.pool_classes_by_scheme = pools
    for manager in session._proxy_managers.values():
        manager.pool_classes_by_scheme = pools


# --- the model hub's HTTP client (huggingface_hub over httpx2) --------------------------------------------------------


@functools.cache
def _checked_network_backend_class() -> type:
    import httpcore2

    class CheckedBackend(httpcore2.SyncBackend):
        """Opens sockets only to addresses the policy allows, checked at the moment of connecting (every redirect
        hop and every new connection, so neither a `Location` header nor a later DNS answer can reach elsewhere).
        TLS still verifies the host name: only the socket's destination is pinned."""

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            addresses = check_host(host, port, what="Outbound connection")
            last_error: Exception | None = None
            for address in addresses:
                try:
                    return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
                except httpcore2.ConnectError as error:
                    last_error = error
            raise last_error or httpcore2.ConnectError(f"Cannot connect to {host}:{port}.")

    return CheckedBackend


def checked_httpx_client():
    """An httpx2.Client whose every connection, redirects included, goes through the policy. Proxies from the
    environment are not used (a proxy would connect on our behalf, unchecked)."""
    import httpx2
    from huggingface_hub.utils._http import hf_request_event_hook

    transport = httpx2.HTTPTransport(trust_env=False)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # fail closed if httpcore's layout changed
        raise RuntimeError("httpcore2's connection pool has no _network_backend; the hub client cannot be guarded.")
    pool._network_backend = _checked_network_backend_class()()
    return httpx2.Client(transport=transport, event_hooks={"request": [hf_request_event_hook]},
                         follow_redirects=True, trust_env=False, timeout=httpx2.Timeout(60.0, connect=10.0))


@functools.cache
def guard_hub_client() -> None:
    """Every request huggingface_hub makes in this process goes through checked_httpx_client, and Xet transfers
    (a native client this policy cannot see into) are off."""
    import os

    from huggingface_hub import constants, set_client_factory

    os.environ["HF_HUB_DISABLE_XET"] = "1"
    constants.HF_HUB_DISABLE_XET = True
    set_client_factory(checked_httpx_client)
