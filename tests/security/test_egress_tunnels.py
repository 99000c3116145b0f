"""Egress policy (projects/registries/egress.py): IPv6 tunnel addresses are judged by the IPv4 address they carry.

The outside tester reached past the policy with http://[2002:7f00:1::] (6to4 wrapping 127.0.0.1). Address literals
only: resolving a literal sends no traffic, and nothing here connects.
"""
from __future__ import annotations

import ipaddress

import pytest

from projects.registries import egress

TUNNELS = [
    ("2002:7f00:1::", "a loopback address"),                       # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", "a link-local address"),                 # 6to4 of 169.254.169.254 (cloud metadata)
    ("2002:0a00:0001::", "a private address"),                     # 6to4 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a loopback address"),  # Teredo, client 127.0.0.1 (XOR 0xffffffff)
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "a private address"),   # Teredo, client 10.0.0.1
]


@pytest.mark.parametrize(("literal", "reason"), TUNNELS, ids=[literal for literal, _ in TUNNELS])
def test_a_tunnel_address_is_judged_by_the_ipv4_address_inside(literal, reason):
    assert egress.refusal_reason(ipaddress.ip_address(literal)) == reason


@pytest.mark.parametrize("literal", [literal for literal, _ in TUNNELS[:3]])
def test_a_6to4_endpoint_is_refused_by_the_url_check(literal, settings):
    with pytest.raises(egress.EgressRefused, match="loopback|link-local|private"):
        egress.check_url(f"http://[{literal}]:9000", what="The S3 endpoint")


def test_a_6to4_address_of_a_public_ipv4_address_is_judged_as_that_address():
    assert egress.refusal_reason(ipaddress.ip_address("2002:0808:0808::")) == ""  # 8.8.8.8 inside
