#!/usr/bin/python3
# cli_http_server.py - the HTTP and HTTPS server of the connectx(1)-beside-curl tests
# (tests/cli_test.cpp, CliVsCurl). Started by the test inside its private network namespace and
# stopped by it (by pid); it listens only on the address it is given.
#
# usage: cli_http_server.py ADDRESS CERT KEY [HTTP_PORT HTTPS_PORT]
# Prints "ready HTTP_PORT HTTPS_PORT" on standard output once both listen (ports chosen by the
# kernel unless given: docs/cli.md's transcript uses fixed ones). HTTP/1.1 with keep-alive. Paths:
#   /hello           200 "hello\n"
#   /redirect/N      302 to /redirect/N-1, /redirect/0 -> 302 to /hello
#   /loop            302 to /loop
#   /auth            200 "welcome\n" with Basic user:secret, else 401
#   /chunked         200, "chunk one\n" "chunk two\n" in chunked encoding
#   /large           200, 3 MiB of deterministic bytes with Content-Length
#   /status/N        N with body "status N\n"
#   /echo            200, the method, the headers the test cares about, and the body
#   /peer            200, the client's "ip port" as the server saw it
import base64
import http.server
import socket
import ssl
import sys
import threading
import time

LARGE = bytes((i * 7 + i // 251) & 0xFF for i in range(3 * 1024 * 1024))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def finish(self):
        # The client closes first, always: its end of the 4-tuple goes to TIME_WAIT, which the
        # pinned-port tests rely on. Without the pause, a server that reads the client's TLS
        # close_notify may send its FIN before the client's.
        time.sleep(0.2)
        super().finish()

    def version_string(self):
        return "cxtest"

    def date_time_string(self, timestamp=None):
        return "Thu, 01 Jan 2026 00:00:00 GMT"  # fixed: outputs compare byte for byte

    def send_body(self, code, body, headers=()):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def do_PUT(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        body = self.read_body()
        if path == "/hello":
            self.send_body(200, b"hello\n", [("Content-Type", "text/plain")])
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/redirect/%d" % (n - 1) if n > 0 else "/hello"
            self.send_body(302, b"moved\n", [("Location", target)])
        elif path == "/loop":
            self.send_body(302, b"again\n", [("Location", "/loop")])
        elif path == "/auth":
            want = "Basic " + base64.b64encode(b"user:secret").decode()
            if self.headers.get("Authorization") == want:
                self.send_body(200, b"welcome\n")
            else:
                self.send_body(401, b"who are you\n", [("WWW-Authenticate", 'Basic realm="t"')])
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"chunk one\n", b"chunk two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/large":
            self.send_body(200, LARGE, [("Content-Type", "application/octet-stream")])
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self.send_body(code, b"status %d\n" % code)
        elif path == "/echo":
            lines = [self.command + " " + self.path]
            for name in ("Content-Type", "Accept", "Authorization", "Cookie", "X-Test"):
                if name in self.headers:
                    lines.append("%s: %s" % (name, self.headers[name]))
            self.send_body(200, ("\n".join(lines) + "\n").encode() + body)
        elif path == "/peer":
            self.send_body(200, ("%s %d\n" % self.client_address[:2]).encode())
        else:
            self.send_body(404, b"not found\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, tls):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        super().__init__(addr, Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.socket = ctx.wrap_socket(self.socket, server_side=True)


def main():
    address, cert, key = sys.argv[1:4]
    ports = [int(p) for p in sys.argv[4:6]] or [0, 0]
    plain = Server((address, ports[0]), None)
    secure = Server((address, ports[1]), (cert, key))
    for s in (plain, secure):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready %d %d" % (plain.server_address[1], secure.server_address[1]), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
