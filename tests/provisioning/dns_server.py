"""A small authoritative DNS server on loopback (UDP, in a thread), built with dnspython:
it answers from one zone file, so doctor's DNS checks run without the internet."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.zone


def _answer(zone: dns.zone.Zone, query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    [question] = query.question
    node = zone.get_node(question.name)
    if node is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    found = node.get_rdataset(zone.rdclass, question.rdtype)
    if found is None and question.rdtype != dns.rdatatype.CNAME:
        found = node.get_rdataset(zone.rdclass, dns.rdatatype.CNAME)
    if found is not None:
        answer = response.find_rrset(
            response.answer, question.name, zone.rdclass, found.rdtype, create=True
        )
        for rdata in found:
            answer.add(rdata, found.ttl)
    return response


@contextmanager
def dns_server(zone_text: str) -> Iterator[str]:
    """Serve ``zone_text`` (a zone file whose origin is the root, so that it may hold names of
    any domain); yields the ``dns_nameservers`` setting that reaches it."""
    zone = dns.zone.from_text(zone_text, origin=dns.name.root, relativize=False, check_origin=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                reply = _answer(zone, dns.message.from_wire(data)).to_wire()
            except Exception:  # a malformed query: no answer, as a real server may do
                continue
            sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        sock.close()
