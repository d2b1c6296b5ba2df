#!/usr/bin/env python3
"""Prints a TCP port that is free on the given address, for a server started right after.

Chosen below the kernel's ephemeral range (net.ipv4.ip_local_port_range), never with bind(0):
a port from inside that range can be handed out again, before the server binds it, as the
source port of any outgoing connection to that address. Seen in CI: kube-controller-manager's
port on 127.0.0.93 was taken by a connection to the API server on the same address, and the
controller never started. Random within the range, so that concurrent callers rarely meet.
"""
import random
import socket
import sys

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
except OSError:
    ephemeral_low = 32768
low, high = 20000, max(20001, ephemeral_low - 1)
for _ in range(200):
    port = random.randint(low, high)
    s = socket.socket()
    try:
        s.bind((address, port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit(f"free-port: no free port on {address} in {low}-{high}")
