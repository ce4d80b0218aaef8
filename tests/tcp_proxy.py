"""A TCP relay a test can stop and start again, to cut a client off its database mid-session.

The shared PostgreSQL server must never be stopped (others use it): the ledger under test connects
through this relay instead, and the test "takes the server down" by stopping the relay, which
closes every relayed connection at once, and "brings it back" by starting it on the same port.

:class:`HeaderProxy` is the same relay playing an authenticating reverse proxy (oauth2-proxy):
it connects to the app from an address of its own (``127.0.0.2``: any 127.x address is loopback
on Linux) and sets a header on the request that opens each connection, replacing any the client
sent. The browser opens a new connection for Streamlit's WebSocket, whose handshake is the
request ``st.context.headers`` reads.
"""

from __future__ import annotations

import contextlib
import socket
import threading


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of the call)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TcpProxy:
    """Relay ``127.0.0.1:<port>`` to ``target``, in threads of the calling process."""

    def __init__(
        self, target: tuple[str, int], port: int | None = None, *, source: str | None = None
    ) -> None:
        self.target = target
        self.source = source  # the address the relay connects to the target from
        self.port = port if port is not None else free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0  # accepted since creation

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every relayed connection (both directions)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            try:
                source = None if self.source is None else (self.source, 0)
                upstream = socket.create_connection(self.target, 5, source)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        if not self._first_request(client, upstream):
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            return
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _first_request(self, client: socket.socket, upstream: socket.socket) -> bool:
        """Hook: handle the start of a connection before the pumps take over (True: go on)."""
        return True

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HeaderProxy(TcpProxy):
    """A relay that sets ``header: value`` on each connection's first HTTP request."""

    def __init__(
        self,
        target: tuple[str, int],
        header: str,
        value: str,
        *,
        source: str = "127.0.0.2",
    ) -> None:
        super().__init__(target, source=source)
        self.header = header
        self.value = value

    def _first_request(self, client: socket.socket, upstream: socket.socket) -> bool:
        head = b""
        client.settimeout(10)
        try:
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return False
                head += chunk
                if len(head) > 65536:
                    return False
        except OSError:
            return False
        client.settimeout(None)
        top, rest = head.split(b"\r\n\r\n", 1)
        lines = top.split(b"\r\n")
        name = self.header.lower().encode()
        kept = [lines[0]] + [ln for ln in lines[1:] if ln.split(b":", 1)[0].strip().lower() != name]
        kept.append(f"{self.header}: {self.value}".encode())
        try:
            upstream.sendall(b"\r\n".join(kept) + b"\r\n\r\n" + rest)
        except OSError:
            return False
        return True
