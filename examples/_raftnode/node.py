"""A small but real Raft node: leader election and log replication over TCP.

Messages are JSON lines on one persistent TCP connection per peer. Each step a Raft
implementer would instrument is wrapped with obskit.raft: elections, RequestVote and
AppendEntries on both sides (the trace context rides in the message), proposals,
apply, the log writes (each append goes to a journal file and is fsynced), the state
gauges and the followers' replication lag. Not implemented (the example does not need
them): log compaction, membership changes, reading the journal back after a restart.
"""

from __future__ import annotations

import json
import os
import random
import socket
import socketserver
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from obskit import propagation, raft

HEARTBEAT = 0.075  # seconds between leader heartbeats
ELECTION_TIMEOUT = (0.3, 0.6)  # a follower's randomized wait for a heartbeat
RPC_TIMEOUT = 0.5
MAX_BATCH = 64  # entries per AppendEntries


class Peer:
    """One persistent connection to a peer; one request in flight at a time."""

    def __init__(self, peer_id: str, host: str, port: int) -> None:
        self.id, self.host, self.port = peer_id, host, port
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._lock = threading.Lock()

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.create_connection((self.host, self.port), RPC_TIMEOUT)
                    self._sock.settimeout(RPC_TIMEOUT)
                    self._file = self._sock.makefile("rb")
                self._sock.sendall(json.dumps(message).encode() + b"\n")
                line = self._file.readline()
                if not line:
                    raise ConnectionResetError(f"peer {self.id} closed the connection")
                return dict(json.loads(line))
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = self._file = None


class RaftNode:
    """Raft state and the protocol rules (Figure 2 of the Raft paper, minus persistence)."""

    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]]) -> None:
        self.id = node_id
        self.peers = {pid: Peer(pid, host, port) for pid, (host, port) in peers.items()}
        self.lock = threading.RLock()
        self.term = 0
        self.voted_for: str | None = None
        self.log: list[dict[str, Any]] = []  # entry: {"term", "cmd", "trace"}; index = pos + 1
        self.commit_index = 0
        self.applied = 0
        self.role = "follower"
        self.leader: str | None = None
        self.data: dict[str, str] = {}
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.deadline = self._new_deadline()
        self.proposing = 0
        self.stopped = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=2 * len(self.peers) + 2)
        self.journal = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the node)
        # For --report (benchmarks/bench_raft.py): writes committed as leader, and this
        # process's CPU time when the first of them arrived and when the last committed.
        self.leader_writes = 0
        self.write_cpu = [0.0, 0.0]
        raft.register_state(self.id, self.state)

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"term": self.term, "role": self.role, "leader_id": self.leader,
                    "commit_index": self.commit_index, "applied_index": self.applied,
                    "last_index": len(self.log), "log_length": len(self.log),
                    "match_index": dict(self.match_index) if self.role == "leader" else None}  # fmt: skip

    def _persist(self, first: int, entries: list[dict[str, Any]]) -> None:
        """Write entries `first`.. to the journal and fsync it (caller holds the lock)."""
        last = first + len(entries) - 1
        with raft.log_append(self.id, term=self.term, first_index=first, last_index=last):
            self.journal.write(b"".join(json.dumps(e).encode() + b"\n" for e in entries))
            with raft.log_sync(self.id, last_index=last):
                self.journal.flush()
                os.fsync(self.journal.fileno())

    def _new_deadline(self) -> float:
        return time.monotonic() + random.uniform(*ELECTION_TIMEOUT)

    def _last_term(self) -> int:
        return self.log[-1]["term"] if self.log else 0

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role = "follower"
        self.leader = leader
        raft.update_state(self.id, term=self.term, role="follower", leader_id=leader)

    # -- the ticker: heartbeats and election timeouts ------------------------------------
    def run(self) -> None:
        next_beat = 0.0
        while not self.stopped.wait(0.01):
            with self.lock:
                role, expired = self.role, time.monotonic() > self.deadline
            if role == "leader":
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + HEARTBEAT
                    for peer in self.peers.values():
                        self.pool.submit(self._replicate_quietly, peer)
            elif expired:
                self.elect()

    def _replicate_quietly(self, peer: Peer) -> None:
        try:
            self.replicate(peer, background=True)
        except Exception:
            pass  # an unreachable peer: retried at the next heartbeat

    def elect(self) -> None:
        with self.lock:
            self.term += 1
            self.role, self.voted_for, self.leader = "candidate", self.id, None
            self.deadline = self._new_deadline()
            term, last_index, last_term = self.term, len(self.log), self._last_term()
            raft.update_state(self.id, term=term, role="candidate", leader_id=None)
        needed = (len(self.peers) + 1) // 2 + 1
        with raft.election(self.id, term, votes_needed=needed) as election:
            request = {"type": "RequestVote", "term": term, "candidate": self.id,
                       "last_index": last_index, "last_term": last_term}  # fmt: skip
            futures = [self.pool.submit(propagation.bind(self._ask_vote), p, dict(request))
                       for p in self.peers.values()]  # fmt: skip
            for future in futures:
                try:
                    reply = future.result(timeout=RPC_TIMEOUT * 2)
                except Exception:
                    continue
                with self.lock:
                    if reply["term"] > self.term:
                        self._become_follower(reply["term"], None)
                        election.lost()
                        return
                if reply.get("granted") and election.vote_granted(reply["from"]) >= needed:
                    break
            with self.lock:
                if self.role != "candidate" or self.term != term or election.votes_granted < needed:
                    election.lost()
                    return
                election.won()
                self.role, self.leader = "leader", self.id
                self.next_index = {p: len(self.log) + 1 for p in self.peers}
                self.match_index = dict.fromkeys(self.peers, 0)
                raft.update_state(self.id, role="leader", leader_id=self.id)

    def _ask_vote(self, peer: Peer, request: dict[str, Any]) -> dict[str, Any]:
        with raft.client_call(raft.REQUEST_VOTE, request, node_id=self.id, peer_id=peer.id,
                              term=request["term"], address=peer.host, port=peer.port) as call:  # fmt: skip
            reply = peer.call(request)
            call.response(vote_granted=reply.get("granted"), term=reply["term"])
            return reply

    # -- replication (leader) ------------------------------------------------------------
    def replicate(self, peer: Peer, *, background: bool = False) -> None:
        with self.lock:
            if self.role != "leader":
                return
            nxt = self.next_index[peer.id]
            entries = self.log[nxt - 1 : nxt - 1 + MAX_BATCH]
            if background and entries and self.proposing:
                entries = []  # the proposer is sending these; the ticker only keeps the lease
            prev = nxt - 1
            message = {"type": "AppendEntries", "term": self.term, "leader": self.id,
                       "prev_index": prev, "prev_term": self.log[prev - 1]["term"] if prev else 0,
                       "entries": entries, "commit": self.commit_index}  # fmt: skip
        with raft.client_call(raft.APPEND_ENTRIES, message, node_id=self.id, peer_id=peer.id,
                              term=message["term"], prev_index=prev,
                              prev_term=message["prev_term"], commit_index=message["commit"],
                              first_index=nxt if entries else None,
                              last_index=prev + len(entries) if entries else None,
                              entries=len(entries), heartbeat=not entries,
                              address=peer.host, port=peer.port) as call:  # fmt: skip
            reply = peer.call(message)
            call.response(success=reply["success"], term=reply["term"],
                          reject_reason=reply.get("reason"))  # fmt: skip
        with self.lock:
            if reply["term"] > self.term:
                self._become_follower(reply["term"], None)
            elif self.role == "leader" and reply["success"]:
                self.match_index[peer.id] = max(self.match_index[peer.id], prev + len(entries))
                self.next_index[peer.id] = self.match_index[peer.id] + 1
                self._advance_commit()
            elif self.role == "leader":
                self.next_index[peer.id] = max(1, min(nxt - 1, reply.get("last_index", 0) + 1))

    def _advance_commit(self) -> None:
        for index in range(len(self.log), self.commit_index, -1):
            votes = 1 + sum(m >= index for m in self.match_index.values())
            if votes * 2 > len(self.peers) + 1 and self.log[index - 1]["term"] == self.term:
                self.commit_index = index
                break
        self._apply()

    def _apply(self) -> None:
        if self.applied >= self.commit_index:
            return
        first, last = self.applied + 1, self.commit_index
        batch = self.log[first - 1 : last]
        with raft.apply(self.id, first_index=first, last_index=last,
                        carriers=[e["trace"] for e in batch]):  # fmt: skip
            for entry in batch:
                key, _, value = entry["cmd"].partition("=")
                self.data[key] = value
            self.applied = last

    def propose(self, cmd: str) -> dict[str, Any]:
        with self.lock:
            if self.role != "leader":
                return {"ok": False, "leader": self.leader}
            self.proposing += 1
            if not self.leader_writes:
                self.write_cpu[0] = time.process_time()
        try:
            with raft.propose(self.id, term=self.term) as proposal:
                with self.lock:
                    self.log.append({"term": self.term, "cmd": cmd, "trace": proposal.inject({})})
                    index = len(self.log)
                    self._persist(index, self.log[-1:])
                proposal.set_index(index)
                deadline = time.monotonic() + 2.0
                while True:
                    waits = [self.pool.submit(propagation.bind(self.replicate), p)
                             for p in self.peers.values()]  # fmt: skip
                    for wait in waits:
                        try:
                            wait.result(timeout=RPC_TIMEOUT * 2)
                        except Exception:
                            pass  # one peer down: the quorum may still commit
                    with self.lock:
                        if self.commit_index >= index:
                            self.leader_writes += 1
                            self.write_cpu[1] = time.process_time()
                            return {"ok": True, "index": index}
                        if self.role != "leader":
                            proposal.fail("not_leader")
                            return {"ok": False, "leader": self.leader}
                    if time.monotonic() > deadline:
                        proposal.fail("timeout")
                        return {"ok": False, "leader": self.id}
        finally:
            with self.lock:
                self.proposing -= 1

    # -- RPC handlers (follower side) ----------------------------------------------------
    def on_request_vote(self, msg: dict[str, Any]) -> dict[str, Any]:
        with raft.server_call(raft.REQUEST_VOTE, msg, node_id=self.id, peer_id=msg["candidate"],
                              term=msg["term"]) as call, self.lock:  # fmt: skip
            if msg["term"] > self.term:
                self._become_follower(msg["term"], None)
            up_to_date = (msg["last_term"], msg["last_index"]) >= (self._last_term(), len(self.log))
            granted = (msg["term"] == self.term and up_to_date
                       and self.voted_for in (None, msg["candidate"]))  # fmt: skip
            if granted:
                self.voted_for = msg["candidate"]
                self.deadline = self._new_deadline()
            call.response(vote_granted=granted)
            return {"term": self.term, "granted": granted, "from": self.id}

    def on_append_entries(self, msg: dict[str, Any]) -> dict[str, Any]:
        entries = msg["entries"]
        with raft.server_call(raft.APPEND_ENTRIES, msg, node_id=self.id, peer_id=msg["leader"],
                              term=msg["term"], prev_index=msg["prev_index"],
                              prev_term=msg["prev_term"], commit_index=msg["commit"],
                              first_index=msg["prev_index"] + 1 if entries else None,
                              last_index=msg["prev_index"] + len(entries) if entries else None,
                              entries=len(entries), heartbeat=not entries) as call, self.lock:  # fmt: skip
            reply = self._append(msg, entries)
            call.response(success=reply["success"], reject_reason=reply.get("reason"))
            return reply

    def _append(self, msg: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
        if msg["term"] < self.term:
            return {"term": self.term, "success": False, "reason": "stale_term"}
        if msg["term"] > self.term or self.role != "follower" or self.leader != msg["leader"]:
            self._become_follower(msg["term"], msg["leader"])
        self.deadline = self._new_deadline()
        prev = msg["prev_index"]
        if prev > len(self.log) or (prev and self.log[prev - 1]["term"] != msg["prev_term"]):
            return {"term": self.term, "success": False, "reason": "log_mismatch",
                    "last_index": min(len(self.log), prev - 1)}  # fmt: skip
        added = len(self.log)
        for offset, entry in enumerate(entries):
            index = prev + 1 + offset
            if index <= len(self.log) and self.log[index - 1]["term"] != entry["term"]:
                del self.log[index - 1 :]
                added = min(added, index - 1)
            if index > len(self.log):
                self.log.append(entry)
        if len(self.log) > added:
            self._persist(added + 1, self.log[added:])
        self.commit_index = max(self.commit_index, min(msg["commit"], prev + len(entries)))
        self._apply()
        return {"term": self.term, "success": True}

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        kind = msg.get("type")
        if kind == "AppendEntries":
            return self.on_append_entries(msg)
        if kind == "RequestVote":
            return self.on_request_vote(msg)
        if kind == "propose":
            return self.propose(str(msg["cmd"]))
        if kind == "status":
            return {"id": self.id, **self.state(), "keys": len(self.data)}
        return {"error": f"unknown message type {kind!r}"}


def serve(node: RaftNode, port: int) -> socketserver.ThreadingTCPServer:
    """Start the node's TCP server on 127.0.0.1:`port` in a daemon thread."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                if node.stopped.is_set():
                    return
                reply = node.handle(json.loads(line))
                self.wfile.write(json.dumps(reply).encode() + b"\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name=f"raft-{node.id}-server",
                     daemon=True).start()  # fmt: skip
    return server
