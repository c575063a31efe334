#!/usr/bin/env python3
"""Sends HL7 v2 messages over MLLP and prints each ACK's MSA segment: a tiny
stand-in for a hospital PAS, for the demo and for trying placehub-mllp by
hand. Usage: mllp-send.py HOST:PORT FILE... (files with \\r, \\n or \\r\\n
segment terminators)."""
import socket
import sys

START, END = b"\x0b", b"\x1c\r"


def send(connection, message):
    connection.sendall(START + message + END)
    answer = b""
    while not answer.endswith(END):
        chunk = connection.recv(65536)
        if not chunk:
            raise SystemExit("mllp-send: the listener closed the connection")
        answer += chunk
    return answer[1:-2].decode("utf-8", "replace")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        for path in sys.argv[2:]:
            raw = open(path, "rb").read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
            ack = send(connection, raw.strip(b"\r") + b"\r")
            msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "no MSA")
            trigger = raw.split(b"\r")[0].split(b"|")[8].decode(errors="replace")
            print(f"   {path.rsplit('/', 1)[-1]:9} {trigger:9} -> {msa}")


if __name__ == "__main__":
    main()
