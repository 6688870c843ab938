#!/usr/bin/env python3
"""The baseline's web server for bench_link.py: serves pair.html and passes signaling between its two pages.

  pairserver.py --bind 10.77.0.2 --port 8090

  GET  /pair.html                          the page
  POST /send?room=R&to=NAME   body: JSON   appended to NAME's mailbox in room R
  GET  /recv?room=R&me=NAME&after=N        the messages past index N, waiting up to 20 s for one
Prints "listening HOST:PORT" once it listens.
"""
import argparse, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
mailboxes = {}
changed = threading.Condition()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path in ("/", "/pair.html"):
            with open(os.path.join(HERE, "pair.html"), "rb") as f:
                return self.reply(200, f.read(), "text/html; charset=utf-8")
        if url.path == "/recv":
            key, after = (query.get("room", ""), query.get("me", "")), int(query.get("after", "0"))
            with changed:
                changed.wait_for(lambda: len(mailboxes.get(key, [])) > after, timeout=20)
                messages = [{"index": i + 1, "body": body} for i, body in enumerate(mailboxes.get(key, [])) if i + 1 > after]
            return self.reply(200, json.dumps(messages).encode())
        self.reply(404, b"{}")

    def do_POST(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if url.path == "/send":
            with changed:
                mailboxes.setdefault((query.get("room", ""), query.get("to", "")), []).append(json.loads(body))
                changed.notify_all()
            return self.reply(200, b"{}")
        self.reply(404, b"{}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    server = ThreadingHTTPServer((options.bind, options.port), Handler)
    server.daemon_threads = True
    print(f"listening {options.bind}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
