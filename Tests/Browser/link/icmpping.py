#!/usr/bin/env python3
"""ICMP echo, for machines without ping(8): icmpping.py HOST [COUNT] [INTERVAL]. Needs root (a raw socket).
Prints one JSON object: {"sent": n, "received": n, "lossPct": p, "rttAvgMs": a, "rttMaxMs": m}."""
import json, os, select, socket, struct, sys, time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main():
    host, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    sent_at, rtts = {}, []
    deadline = None
    for seq in range(count + 1):
        if seq < count:
            payload = struct.pack("!d", time.monotonic()) + b"linkbench" * 4
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
            s.sendto(packet, (host, 0))
            sent_at[seq] = time.monotonic()
            wait_until = time.monotonic() + interval
        else:
            wait_until = time.monotonic() + 2  # the last answers
        while True:
            remaining = wait_until - time.monotonic()
            if remaining <= 0 or (seq == count and len(rtts) == count):
                break
            ready, _, _ = select.select([s], [], [], remaining)
            if not ready:
                continue
            data = s.recv(2048)
            ihl = (data[0] & 0x0F) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind == 0 and rid == ident and rseq in sent_at:
                rtts.append((time.monotonic() - sent_at.pop(rseq)) * 1000)
    print(json.dumps({"sent": count, "received": len(rtts), "lossPct": round(100 * (count - len(rtts)) / count, 1),
                      "rttAvgMs": round(sum(rtts) / len(rtts), 2) if rtts else None, "rttMaxMs": round(max(rtts), 2) if rtts else None}))


if __name__ == "__main__":
    main()
