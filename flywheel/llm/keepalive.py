"""Keep-alive HTTP/1.1 connections to one server, shared by the threads that post to it: a request takes an
idle connection or opens one, and gives it back once its answer is read whole. A new TCP connection and
urllib's handler chain on every request cost the driver about twice the CPU (250-280 us a request against
140 us, measured against the server double)."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import urllib.parse
import urllib.request
from typing import NamedTuple

from flywheel.errors import ConfigError

# What a connection the server closed while it was idle raises on its next request (before any answer).
_STALE = (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


class _NoDelay:
    """Nagle off: http.client sends the headers and the body in two writes, and on a reused connection the body
    would wait for the server's delayed acknowledgement of the headers (40 ms on Linux)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTP(_NoDelay, http.client.HTTPConnection):
    pass


class _HTTPS(_NoDelay, http.client.HTTPSConnection):
    pass


class Withdrawn(Exception):
    """The request was taken back (Watch.withdraw) before or while it was sent."""


class Watch:
    """One request's handle across its tries: withdraw() marks it taken back and shuts the connection its
    answer would come on, so a read blocked on that answer ends at once and the server sees the client gone
    (vLLM's and SGLang's servers then abort the generation)."""

    __slots__ = ("withdrawn", "_conn", "_lock")

    def __init__(self) -> None:
        self.withdrawn = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self.withdrawn.is_set():
                raise Withdrawn("withdrawn before it was sent")
            self._conn = conn

    def detach(self) -> None:
        with self._lock:
            self._conn = None

    def withdraw(self) -> None:
        with self._lock:
            self.withdrawn.set()
            conn, self._conn = self._conn, None
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed meanwhile
                pass


class Answer(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class Connections:
    """Context manager: the idle connections are closed when it is left (or by close())."""

    def __init__(self, base_url: str, timeout_s: float, most_idle: int):
        parts = urllib.parse.urlsplit(base_url)
        try:
            port = parts.port
        except ValueError:  # not a number, or out of range
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise ConfigError(f"generator.base_url must be an http:// or https:// URL, got {base_url!r}")
        https = parts.scheme == "https"
        self._cls = _HTTPS if https else _HTTP
        self._host, self._port = parts.hostname, port or (443 if https else 80)
        self._timeout_s, self._most_idle = timeout_s, most_idle
        self._prefix = parts.path.rstrip("/")
        self._proxy, self._proxy_headers = _proxy(parts.scheme, self._host)
        if self._proxy is not None and not https:  # a plain-HTTP proxy is sent the whole URL
            self._prefix = f"http://{parts.netloc}{self._prefix}"
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _open(self) -> http.client.HTTPConnection:
        if self._proxy is None:
            return self._cls(self._host, self._port, timeout=self._timeout_s)
        conn = self._cls(*self._proxy, timeout=self._timeout_s)
        if self._cls is _HTTPS:
            conn.set_tunnel(self._host, self._port, headers=self._proxy_headers)
        return conn

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._open(), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._most_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _send(self, conn, path: str, data: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        if self._proxy is not None and self._cls is _HTTP:
            headers = headers | self._proxy_headers
        conn.request("POST", self._prefix + path, body=data, headers=headers)
        return conn.getresponse()

    def _exchange(self, conn, path: str, data: bytes, headers: dict[str, str], watch: Watch | None):
        if watch is not None:
            if conn.sock is None:
                conn.connect()  # a socket for withdraw() to shut before anything is sent
            watch.attach(conn)
        return self._send(conn, path, data, headers)

    def post(self, path: str, data: bytes, headers: dict[str, str], watch: Watch | None = None) -> Answer:
        """POST `data` to base_url + path; the answer read whole. Network errors are raised as they come;
        a request `watch` withdrew raises Withdrawn or the error its shut connection gave."""
        conn, reused = self._take()
        try:
            try:
                resp = self._exchange(conn, path, data, headers, watch)
            except _STALE:
                if not reused or (watch is not None and watch.withdrawn.is_set()):
                    raise
                conn.close()  # the server closed it while idle: the request never reached it, send it afresh
                conn = self._open()
                resp = self._exchange(conn, path, data, headers, watch)
            body = resp.read()
        except BaseException:
            conn.close()  # in an unknown state (a timeout mid-answer): never reused
            raise
        finally:
            if watch is not None:
                watch.detach()
        answer = Answer(resp.status, body, resp.getheader("Retry-After"))
        if resp.will_close or (watch is not None and watch.withdrawn.is_set()):  # withdrawn: maybe shut already
            conn.close()
        else:
            self._give_back(conn)
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> "Connections":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _proxy(scheme: str, host: str) -> tuple[tuple[str, int] | None, dict[str, str]]:
    """The proxy the environment names for this server (http_proxy, https_proxy, no_proxy), as urllib would
    use it: its (host, port) and the Proxy-Authorization its URL's credentials make."""
    url = urllib.request.getproxies().get(scheme)
    if not url or urllib.request.proxy_bypass(host):
        return None, {}
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise ConfigError(f"the {scheme}_proxy variable is not a URL: {url!r}")
    headers = {}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        word = urllib.parse.unquote(parts.password or "")
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(f"{user}:{word}".encode()).decode("ascii")
    return (parts.hostname, parts.port or 80), headers
