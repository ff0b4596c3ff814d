"""Faults of a dependency, injected on loopback: a port where nothing listens, a listener that accepts and never
answers, or a relay to the real service that can fall silent. The machine's services are never stopped.

    peer = LoopbackPeer()             # refuses: nothing listens on peer.port
    peer.silent()                     # accepts every connection, never answers
    peer.relay(5432)                  # forwards to the real PostgreSQL
    peer.freeze()                     # connections already relayed stop moving, new ones are silent
    peer.close()
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LoopbackPeer:
    def __init__(self) -> None:
        self.port = free_port()
        self._mode = "refuse"
        self._target: int | None = None
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._frozen = threading.Event()

    # --- modes ---------------------------------------------------------------------------------------------
    def refuse(self) -> None:
        """Nothing listens: a connection is refused at once. Connections made before are cut."""
        self._mode = "refuse"
        self._close_listener()
        self._cut_all()

    def silent(self) -> None:
        """Accept every connection and never send a byte (what a wedged or paused server looks like)."""
        self._mode = "silent"
        self._listen()

    def relay(self, target_port: int) -> None:
        """Forward every new connection to the real service on ``target_port``."""
        self._mode, self._target = "relay", target_port
        self._frozen.clear()
        self._listen()

    def freeze(self) -> None:
        """Connections already relayed stop moving in both directions (their sockets stay open), and new ones
        are accepted and never answered: a server that stops answering mid-conversation."""
        self._mode = "silent"
        self._frozen.set()

    def close(self) -> None:
        self._stopping.set()
        self._close_listener()
        self._cut_all()

    # --- machinery -----------------------------------------------------------------------------------------
    def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()

    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            self._keep(client)
            if self._mode == "relay" and self._target is not None:
                threading.Thread(target=self._pump, args=(client, self._target), daemon=True).start()
            # silent: the socket is kept open and never read or written

    def _pump(self, client: socket.socket, target_port: int) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._keep(upstream)
        pair = {client: upstream, upstream: client}
        while not self._stopping.is_set():
            if self._frozen.is_set():
                self._stopping.wait(0.2)
                continue
            try:
                readable, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("closed")
                    pair[sock].sendall(data)
            except (OSError, ValueError):
                for sock in pair:
                    with contextlib.suppress(OSError):
                        sock.close()
                return


@contextlib.contextmanager
def loopback_peer() -> Iterator[LoopbackPeer]:
    peer = LoopbackPeer()
    try:
        yield peer
    finally:
        peer.close()
