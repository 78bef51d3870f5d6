#!/usr/bin/python3
"""passt-state.py [--flows N] [--seq S] [--addr4 A] [--sndq N] [--skip I]:
a passt v2 migration payload on stdout, built from the layout in passt's
migrate.c (header, struct migrate_seen_addrs_v2), flow.c (be32 count) and
tcp_conn.h (struct tcp_tap_transfer, then per flow struct
tcp_tap_transfer_ext and its queues).  Real flows need passt-repair, so the
decoder's flow part is tested with states built here.  Ports are in the
host's order, as passt copies them from its flow table; the rest is
network order."""
import argparse
import ipaddress
import struct
import sys

MAGIC = 0xB1BB1D1B0BB1D1B0


def inany(addr):
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        return ipaddress.IPv6Address("::ffff:" + addr).packed
    return a.packed


def side(oaddr, oport, eaddr, eport):
    return inany(oaddr) + inany(eaddr) + struct.pack("<HH", oport, eport)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--flows", type=int, default=0)
    p.add_argument("--seq", type=int, default=1000)
    p.add_argument("--addr4", default="10.0.2.15")
    p.add_argument("--sndq", type=int, default=3)
    p.add_argument("--skip", type=int, default=-1, help="flow whose extended data has tcpi_state 0")
    p.add_argument("--count", type=int, default=None, help="flow count to write (default: --flows)")
    a = p.parse_args()

    out = struct.pack(">QII", MAGIC, 2, 2)
    out += ipaddress.IPv6Address("2001:db8::2").packed + ipaddress.IPv6Address("fe80::1").packed
    out += ipaddress.IPv4Address(a.addr4).packed + bytes.fromhex("5255c0a80202")
    out += struct.pack(">I", a.flows if a.count is None else a.count)
    for i in range(a.flows):
        t = bytes([2, 1])  # PIF_TAP, PIF_HOST
        t += side("93.184.216.34", 80, "10.0.2.15", 40000 + i)
        t += side("10.0.2.15", 40000 + i, "93.184.216.34", 80)
        t += bytes([0, 7, 7, 4])  # retries, ws_from_tap, ws_to_tap, events (ESTABLISHED)
        t += struct.pack(">II", 65536, 212992)  # tap_mss, sndbuf
        t += bytes([0, 0])  # flags, seq_dup_ack_approx
        t += struct.pack(">HH", 502, 64240)
        t += struct.pack(">IIIII", a.seq + i, a.seq + i, 5000 + i, 5000 + i, 4000 + i)
        assert len(t) == 112
        out += t
    for i in range(a.flows):
        skip = i == a.skip
        e = struct.pack(">IIIIIIIIIIII", 7000 + i, 8000 + i, a.sndq, 0, 2, 1460, 123456,
                        7000, 64240, 64240, 65535, 8000)
        e += bytes([7, 7, 0 if skip else 1, 7])  # snd_ws rcv_ws tcpi_state tcpi_options
        assert len(e) == 52
        out += e
        if not skip:
            out += b"s" * a.sndq + b"rr"
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
