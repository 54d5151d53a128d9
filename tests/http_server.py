#!/usr/bin/python3
"""A fault-injecting HTTP/1.1 server for the download tests.

Serves the files under --root on 127.0.0.1, on a port the OS picks; the port
is printed on stdout and written to --port-file (atomically, after the
manifest). Every request is logged, one line each, to --log:

    GET /tensorflow/x.h5 range=bytes=100- status=206

Byte ranges ("Range: bytes=A-" and "bytes=A-B") are honoured (206 with
Content-Range, 416 past the end) unless turned off. Per-path behaviours,
given as --rule /PATH=B1,B2,... (the URL path, e.g. /tensorflow/x.h5):

    404              always answer 404
    status:CODE:N    answer CODE to the first N requests, then serve normally
                     (status:500:1 = 500 then ok; status:500:2 = two 5xx)
    truncate:OFFSET  announce the full Content-Length but stop the body at
                     byte OFFSET of the file, then close
    stall:OFFSET     send the body up to byte OFFSET of the file, then
                     nothing, forever
    reset:OFFSET     send the body up to byte OFFSET, then reset the
                     connection (TCP RST)
    truncate-once:OFFSET, stall-once:OFFSET, reset-once:OFFSET
                     the same, for the first request of the path only
    norange          ignore Range on this path (200, no Accept-Ranges)
    delay:SECONDS    wait before answering (float)

OFFSETs are positions in the file, so a fault stays where it is when the
client resumes with a Range request past it (it then gets nothing more).

--no-range turns Range support off for every path. --manifest FILE writes
"md5 sha256 /PATH" for every file served, as an independent hash oracle.
"""
import argparse
import hashlib
import http.server
import os
import socket
import struct
import threading
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--manifest")
    p.add_argument("--rule", action="append", default=[])
    p.add_argument("--no-range", action="store_true")
    return p.parse_args()


ARGS = parse_args()
ROOT = os.path.abspath(ARGS.root)
RULES = {}
for rule in ARGS.rule:
    path, _, spec = rule.partition("=")
    RULES[path] = [b for b in spec.split(",") if b]
LOCK = threading.Lock()
COUNTS = {}
LOG = open(ARGS.log, "a", buffering=1) if ARGS.log else None


def log(line):
    if LOG:
        with LOCK:
            LOG.write(line + "\n")
            LOG.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo-test-server"

    def log_message(self, fmt, *args):  # quiet: the log file says it all
        pass

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def start(self, status, rng, headers, length):
        log(f"{self.command} {self.path} range={rng or '-'} status={status}")
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def answer(self, status, rng, headers, payload=b""):
        self.start(status, rng, headers, len(payload))
        if self.command != "HEAD":
            self.wfile.write(payload)

    def serve(self):
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with LOCK:
            n = COUNTS[path] = COUNTS.get(path, 0) + 1
        opts = {}
        for b in RULES.get(path, []):
            name, _, arg = b.partition(":")
            opts[name] = arg
        if "delay" in opts:
            time.sleep(float(opts["delay"]))
        text = [("Content-Type", "text/plain")]
        if "404" in opts:
            return self.answer(404, rng, text, b"not found\n")
        if "status" in opts:
            code, _, times = opts["status"].partition(":")
            if n <= int(times or "1"):
                return self.answer(int(code), rng, text, b"injected failure\n")
        local = os.path.normpath(os.path.join(ROOT, path.lstrip("/")))
        if not local.startswith(ROOT + os.sep) or not os.path.isfile(local):
            return self.answer(404, rng, text, b"not found\n")
        with open(local, "rb") as f:
            data = f.read()
        size = len(data)
        ranges = not ARGS.no_range and "norange" not in opts
        status, start, end = 200, 0, size
        headers = [("Content-Type", "application/octet-stream")]
        if ranges:
            headers.append(("Accept-Ranges", "bytes"))
        if ranges and rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            try:
                start = int(a)
                end = int(b) + 1 if b else size
            except ValueError:
                start, end = 0, size
            if start >= size:
                return self.answer(416, rng, [("Content-Range", f"bytes */{size}")])
            end = min(end, size)
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        payload = data[start:end]
        cut = None  # (kind, file offset)
        for kind in ("truncate", "stall", "reset"):
            if kind in opts:
                cut = (kind, int(opts[kind]))
            if kind + "-once" in opts and n == 1:
                cut = (kind, int(opts[kind + "-once"]))
        self.start(status, rng, headers, len(payload))
        if self.command == "HEAD":
            return
        if cut is None:
            self.wfile.write(payload)
            return
        kind, offset = cut
        self.wfile.write(payload[:max(0, offset - start)])
        self.wfile.flush()
        self.close_connection = True
        if kind == "stall":
            while True:
                time.sleep(3600)
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        # truncate / reset: the handler's finish() closes the connection.


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    if ARGS.manifest:
        with open(ARGS.manifest + ".tmp", "w") as m:
            for dirpath, _, files in os.walk(ROOT):
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    with open(full, "rb") as f:
                        data = f.read()
                    rel = "/" + os.path.relpath(full, ROOT)
                    m.write(f"{hashlib.md5(data).hexdigest()} "
                            f"{hashlib.sha256(data).hexdigest()} {rel}\n")
        os.rename(ARGS.manifest + ".tmp", ARGS.manifest)
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
