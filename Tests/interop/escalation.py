#!/usr/bin/env python3
"""Interoperability test of the CTLive signaling protocol, version 1.

Written from docs/PROTOCOL.md alone. Connects DEALER sockets to a running hub:

    ctlive hub --signaling tcp://127.0.0.1:PORT &
    python3 Tests/interop/escalation.py --hub tcp://127.0.0.1:PORT

Prints `PASS name` / `FAIL name: why` per check, then `N passed, M failed`;
exits 0 only when nothing failed. Needs Python 3.11 and pyzmq.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import traceback
from typing import Any, Callable

import zmq

VERSION = 1
WAIT = 5.0           # the longest any single wait may take, in seconds
QUIET = 1.0          # how long to listen when checking that something does NOT arrive
DEFAULT_HEARTBEAT_MS = 1000


class CheckFailed(Exception):
    pass


def expect(cond: bool, why: str) -> None:
    if not cond:
        raise CheckFailed(why)


def short(msg: Any) -> str:
    s = json.dumps(msg, sort_keys=True) if not isinstance(msg, str) else msg
    return s if len(s) <= 400 else s[:400] + "…"


def uid(prefix: str) -> str:
    """A user id unique to this run (ids allow A-Z a-z 0-9 . _ - @ :)."""
    return f"{prefix}-{secrets.token_hex(4)}"


class Net:
    """All clients of one run. Every wait pumps every socket, so that each client
    that said hello keeps sending `ping` every heartbeatMs while any of them waits."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx = zmq.Context()
        self.clients: list[Client] = []
        self.poller = zmq.Poller()

    def client(self, label: str) -> "Client":
        c = Client(self, label)
        self.clients.append(c)
        self.poller.register(c.sock, zmq.POLLIN)
        return c

    def drop(self, c: "Client") -> None:
        if c in self.clients:
            self.clients.remove(c)
            self.poller.unregister(c.sock)
            c.sock.close(linger=0)

    def pump(self, budget: float) -> None:
        """Receive for at most `budget` seconds (returns early after a message)."""
        now = time.monotonic()
        for c in self.clients:
            c.heartbeat(now)
        timeout_ms = max(0, int(budget * 1000))
        # wake up in time for the next heartbeat
        due = [c.next_ping_due() for c in self.clients if c.welcomed]
        if due:
            timeout_ms = min(timeout_ms, max(0, int((min(due) - now) * 1000)))
        events = dict(self.poller.poll(timeout_ms))
        for c in list(self.clients):
            if c.sock in events:
                while True:
                    try:
                        frames = c.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    c.deliver(frames)

    def wait_until(self, cond: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + min(timeout, WAIT)
        while True:
            r = cond()
            if r:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pump(min(left, 0.1))

    def settle(self, duration: float) -> None:
        """Keep pumping (and heartbeating) for `duration` seconds."""
        deadline = time.monotonic() + min(duration, WAIT)
        while (left := deadline - time.monotonic()) > 0:
            self.pump(min(left, 0.1))

    def close(self) -> None:
        for c in list(self.clients):
            self.drop(c)
        self.ctx.term()


class Client:
    def __init__(self, net: Net, label: str) -> None:
        self.net = net
        self.label = label
        self.sock = net.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(net.endpoint)
        self.next_id = 0
        self.replies: dict[int, dict] = {}
        self.events: list[dict] = []          # unconsumed events (no `re`)
        self.history: list[dict] = []         # every message received, for diagnostics
        self.unreadable_errors: list[dict] = []  # errors without `re`
        self.ping_ids: set[int] = set()
        self.welcomed = False
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.last_send = time.monotonic()
        self.participant: dict | None = None
        self.user_id: str | None = None
        self.role: str | None = None

    # -- identity --
    @property
    def pid(self) -> str:
        """This client's participant id, `<role>:<userId>`."""
        if self.participant and "id" in self.participant:
            return self.participant["id"]
        return f"{self.role}:{self.user_id}"

    # -- sending --
    def send_raw(self, data: bytes) -> None:
        self.sock.send(data)
        self.last_send = time.monotonic()

    def send(self, type_: str, *, with_id: bool = True, v: int = VERSION, **fields: Any) -> int | None:
        msg: dict[str, Any] = {"v": v, "type": type_}
        rid = None
        if with_id:
            self.next_id += 1
            rid = self.next_id
            msg["id"] = rid
        msg.update(fields)
        self.send_raw(json.dumps(msg).encode("utf-8"))
        return rid

    def heartbeat(self, now: float) -> None:
        if self.welcomed and now >= self.next_ping_due():
            rid = self.send("ping")
            assert rid is not None
            self.ping_ids.add(rid)

    def next_ping_due(self) -> float:
        # a little early, so the hub never sees heartbeatMs of silence
        return self.last_send + self.heartbeat_ms / 1000.0 * 0.8

    # -- receiving --
    def deliver(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            msg = {"_bad": f"{len(frames)} frames"}
        else:
            try:
                msg = json.loads(frames[0].decode("utf-8"))
            except Exception as e:  # noqa: BLE001 - recorded, checked by callers
                msg = {"_bad": f"unreadable: {e}: {frames[0][:200]!r}"}
        self.history.append(msg)
        if not isinstance(msg, dict):
            return
        re = msg.get("re")
        if isinstance(re, int) and not isinstance(re, bool):
            if re in self.ping_ids:
                self.ping_ids.discard(re)   # heartbeat pong
                return
            self.replies[re] = msg
        elif msg.get("type") == "error":
            self.unreadable_errors.append(msg)
        else:
            self.events.append(msg)

    def wait_reply(self, rid: int, timeout: float = WAIT) -> dict:
        r = self.net.wait_until(lambda: self.replies.get(rid), timeout)
        if r is None:
            raise CheckFailed(f"{self.label}: no reply with re={rid} within {min(timeout, WAIT)}s "
                              f"(last received: {short(self.history[-3:])})")
        del self.replies[rid]
        expect(r.get("v") == VERSION, f"{self.label}: reply without v=1: {short(r)}")
        return r

    def call(self, type_: str, **fields: Any) -> dict:
        rid = self.send(type_, **fields)
        assert rid is not None
        return self.wait_reply(rid)

    def call_ok(self, type_: str, **fields: Any) -> dict:
        r = self.call(type_, **fields)
        expect(r.get("type") == "ok", f"{self.label}: {type_} expected ok, got {short(r)}")
        return r

    def call_error(self, code: str, type_: str, **fields: Any) -> dict:
        rid = self.send(type_, **fields)
        assert rid is not None
        r = self.wait_reply(rid)
        expect(r.get("type") == "error" and r.get("code") == code,
               f"{self.label}: {type_} expected error {code}, got {short(r)}")
        expect(r.get("re") == rid, f"{self.label}: error does not carry re={rid}: {short(r)}")
        expect(isinstance(r.get("message"), str), f"{self.label}: error without message: {short(r)}")
        return r

    def wait_event(self, pred: Callable[[dict], bool], what: str, timeout: float = WAIT) -> dict:
        def find() -> dict | None:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            return None
        e = self.net.wait_until(find, timeout)
        if e is None:
            raise CheckFailed(f"{self.label}: no {what} within {min(timeout, WAIT)}s "
                              f"(pending events: {short(self.events)})")
        expect(e.get("v") == VERSION, f"{self.label}: event without v=1: {short(e)}")
        expect("re" not in e, f"{self.label}: event carries re: {short(e)}")
        return e

    def event(self, type_: str, contact: str | None = None, timeout: float = WAIT,
              **match: Any) -> dict:
        def pred(e: dict) -> bool:
            if e.get("type") != type_:
                return False
            if contact is not None and e.get("contactID") != contact:
                return False
            return all(e.get(k) == v for k, v in match.items())
        desc = type_ + (f" {match}" if match else "")
        return self.wait_event(pred, desc, timeout)

    def no_event(self, type_: str, contact: str | None = None, duration: float = QUIET) -> None:
        def pred() -> dict | None:
            for e in self.events:
                if e.get("type") == type_ and (contact is None or e.get("contactID") == contact):
                    return e
            return None
        self.net.settle(duration)
        e = pred()
        expect(e is None, f"{self.label}: unexpected {type_}: {short(e)}")

    # -- protocol helpers --
    def hello(self, role: str, user_id: str, **extra: Any) -> dict:
        self.role, self.user_id = role, user_id
        r = self.call("hello", role=role, userId=user_id, **extra)
        expect(r.get("type") == "welcome", f"{self.label}: hello expected welcome, got {short(r)}")
        p = r.get("participant")
        expect(isinstance(p, dict), f"{self.label}: welcome without participant object: {short(r)}")
        expect(p.get("id") == f"{role}:{user_id}" and p.get("userId") == user_id
               and p.get("role") == role and isinstance(p.get("name"), str),
               f"{self.label}: welcome participant wrong: {short(p)}")
        hb = r.get("heartbeatMs")
        expect(isinstance(hb, int) and hb > 0, f"{self.label}: welcome heartbeatMs wrong: {short(r)}")
        expect(isinstance(r.get("heartbeatTimeoutMs"), int), f"{self.label}: no heartbeatTimeoutMs: {short(r)}")
        expect(isinstance(r.get("hubVersion"), str), f"{self.label}: no hubVersion: {short(r)}")
        self.participant = p
        self.heartbeat_ms = hb
        self.welcomed = True
        return r


# ---------------------------------------------------------------------------
# helpers shared by the checks


def user_of(value: Any) -> str | None:
    """`customer`/`agent` in contactOpened: accept a participant object, a
    participant id or a bare user id (the document does not say which)."""
    if isinstance(value, dict):
        return value.get("userId")
    if isinstance(value, str):
        return value.split(":", 1)[1] if ":" in value else value
    return None


def open_pair(net: Net, tag: str, attributes: dict | None = None) -> tuple[Client, Client, str]:
    """Customer + agent said hello; the customer opened a contact to the agent;
    both saw contactOpened. Returns (customer, agent, contactID)."""
    cust = net.client(f"customer[{tag}]")
    agent = net.client(f"agent[{tag}]")
    cust.hello("customer", uid(f"C{tag}"), name=f"Customer {tag}")
    agent.hello("agent", uid(f"A{tag}"), name=f"Agent {tag}")
    fields: dict[str, Any] = {"agent": agent.user_id}
    if attributes is not None:
        fields["attributes"] = attributes
    r = cust.call_ok("openContact", **fields)
    contact = r.get("contactID")
    expect(isinstance(contact, str) and contact, f"openContact ok without contactID: {short(r)}")
    for c in (cust, agent):
        e = c.event("contactOpened", contact)
        expect(user_of(e.get("customer")) == cust.user_id,
               f"{c.label}: contactOpened customer wrong: {short(e)}")
        expect(user_of(e.get("agent")) == agent.user_id,
               f"{c.label}: contactOpened agent wrong: {short(e)}")
        if attributes is not None:
            expect(e.get("attributes") == attributes,
                   f"{c.label}: contactOpened attributes {short(e.get('attributes'))} != {short(attributes)}")
        else:
            expect(isinstance(e.get("attributes"), dict),
                   f"{c.label}: contactOpened attributes missing: {short(e)}")
    return cust, agent, contact


def request_upgrade(requester: Client, answerer: Client, contact: str, div: str,
                    audio: bool, video: bool) -> str:
    """requester asks; answerer sees requestVideoUpgrade. Returns requestID."""
    requester.call_ok("requestVideoUpgrade", contactID=contact, divID=div,
                      useAudio=audio, useVideo=video)
    e = answerer.event("requestVideoUpgrade", contact)
    expect(e.get("divID") == div, f"requestVideoUpgrade divID {e.get('divID')!r} != {div!r}")
    expect(e.get("useAudio") is audio, f"requestVideoUpgrade useAudio {e.get('useAudio')!r} != {audio}")
    expect(e.get("useVideo") is video, f"requestVideoUpgrade useVideo {e.get('useVideo')!r} != {video}")
    frm = e.get("from")
    expect(isinstance(frm, dict) and frm.get("id") == requester.pid,
           f"requestVideoUpgrade from {short(frm)} is not {requester.pid}")
    rq = e.get("requestID")
    expect(isinstance(rq, str) and rq, f"requestVideoUpgrade without requestID: {short(e)}")
    expect(isinstance(e.get("expiresInMs"), int) and e["expiresInMs"] > 0,
           f"requestVideoUpgrade expiresInMs wrong: {short(e)}")
    return rq


def participant_events(c: Client, contact: str, room: str, others: set[str]) -> None:
    """After roomStarted: `onJoined` for each other member, and `onDynamicChanged`
    listing every member."""
    everyone = others | {c.pid}
    seen: set[str] = set()
    while not others <= seen:
        e = c.event("participant", contact, eventName="onJoined")
        expect(e.get("roomID") == room, f"{c.label}: onJoined roomID {e.get('roomID')!r} != {room!r}")
        p = e.get("participant")
        expect(isinstance(p, dict) and isinstance(p.get("id"), str),
               f"{c.label}: onJoined without participant: {short(e)}")
        expect(p["id"] in everyone, f"{c.label}: onJoined for a stranger: {short(p)}")
        if p["id"] != c.pid:
            seen.add(p["id"])
    # onDynamicChanged: the last one must list every member
    def full(e: dict) -> bool:
        if e.get("type") != "participant" or e.get("contactID") != contact:
            return False
        if e.get("eventName") != "onDynamicChanged":
            return False
        ps = e.get("participants")
        return isinstance(ps, list) and {p.get("id") for p in ps if isinstance(p, dict)} == everyone
    e = c.wait_event(full, f"participant onDynamicChanged listing {sorted(everyone)}")
    expect(e.get("roomID") == room, f"{c.label}: onDynamicChanged roomID wrong: {short(e)}")


def cleanup(net: Net, *clients: Client) -> None:
    for c in clients:
        if c.welcomed:
            try:
                rid = c.send("bye")
                if rid is not None:
                    net.wait_until(lambda: c.replies.get(rid), 1.0)
            except Exception:  # noqa: BLE001 - best effort
                pass
        net.drop(c)


# ---------------------------------------------------------------------------
# the checks


def check_whole_escalation(net: Net) -> None:
    attrs = {"tier": "gold", "topic": "billing-question"}
    cust, agent, contact = open_pair(net, "esc", attrs)
    try:
        # chat round-trip
        cust.call_ok("chat", contactID=contact, text="hello, I need help")
        for c in (cust, agent):
            e = c.event("chat", contact, seq=1)
            expect(e.get("from") == cust.pid and e.get("text") == "hello, I need help",
                   f"{c.label}: chat seq 1 wrong: {short(e)}")
            expect(isinstance(e.get("at"), int) and e["at"] > 1_500_000_000_000,
                   f"{c.label}: chat at is not ms since 1970: {short(e)}")
        agent.call_ok("chat", contactID=contact, text="sure — how can I help?")
        for c in (cust, agent):
            e = c.event("chat", contact, seq=2)
            expect(e.get("from") == agent.pid and e.get("text") == "sure — how can I help?",
                   f"{c.label}: chat seq 2 wrong: {short(e)}")

        # escalation: audio only, so a mix-up of useAudio/useVideo shows
        rq = request_upgrade(cust, agent, contact, "videoPanel", True, False)
        agent.call_ok("responseVideoUpgrade", contactID=contact, response=True, divID="agentPanel")
        for c in (cust, agent):
            e = c.event("responseVideoUpgrade", contact)
            expect(e.get("response") is True, f"{c.label}: response not true: {short(e)}")
            expect(e.get("requestID") == rq, f"{c.label}: requestID {e.get('requestID')!r} != {rq!r}")
            expect(e.get("divID") == "agentPanel", f"{c.label}: divID wrong: {short(e)}")
            expect(e.get("by") == agent.pid, f"{c.label}: by {e.get('by')!r} != {agent.pid!r}")
            expect(e.get("automatic") is False, f"{c.label}: automatic not false: {short(e)}")

        rooms = set()
        for c in (cust, agent):
            e = c.event("roomStarted", contact)
            expect(isinstance(e.get("roomID"), str) and e["roomID"], f"{c.label}: no roomID: {short(e)}")
            expect(e.get("useAudio") is True and e.get("useVideo") is False,
                   f"{c.label}: roomStarted media flags wrong: {short(e)}")
            rooms.add(e["roomID"])
        expect(len(rooms) == 1, f"members got different roomIDs: {rooms}")
        room = rooms.pop()

        participant_events(cust, contact, room, {agent.pid})
        participant_events(agent, contact, room, {cust.pid})

        # a second request while the room is active is refused
        cust.call_error("room_active", "requestVideoUpgrade", contactID=contact, divID="v",
                        useAudio=True, useVideo=True)

        # customer leaves the room: the agent gets onLeft, then the room ends for both (a video session is
        # the customer's and the agent's)
        cust.call_ok("videoDisconnectAndDestruct", contactID=contact)
        e = agent.event("participant", contact, eventName="onLeft")
        expect(e.get("roomID") == room, f"onLeft roomID wrong: {short(e)}")
        expect(isinstance(e.get("participant"), dict) and e["participant"].get("id") == cust.pid,
               f"onLeft participant is not {cust.pid}: {short(e)}")
        for c in (cust, agent):
            e = c.event("roomEnded", contact)
            expect(e.get("roomID") == room, f"{c.label}: roomEnded roomID wrong: {short(e)}")
            expect(e.get("reason") == "the customer left", f"{c.label}: roomEnded reason wrong: {short(e)}")

        # hanging up a room that is over already is no error: both sides may hang up at once
        agent.call_ok("videoDisconnectAndDestruct", contactID=contact)
        cust.call_ok("videoDisconnectAndDestruct", contactID=contact)

        # a new video session needs (and now allows) a new request — from the agent this time
        rq2 = request_upgrade(agent, cust, contact, "agentPanel2", True, True)
        expect(rq2 != rq, f"second request reused requestID {rq!r}")
        agent.call_ok("leaveContact", contactID=contact)
        cust.event("requestVideoUpgradeCancelled", contact, requestID=rq2)
        e = cust.event("contactClosed", contact)
        expect(e.get("by") == agent.pid and e.get("reason") == "left",
               f"contactClosed wrong: {short(e)}")
    finally:
        cleanup(net, cust, agent)


def check_refusal(net: Net) -> None:
    cust, agent, contact = open_pair(net, "ref")
    try:
        rq = request_upgrade(cust, agent, contact, "videoPanel", True, True)
        agent.call_ok("responseVideoUpgrade", contactID=contact, response=False,
                      divID="agentPanel", reason="busy right now")
        for c in (cust, agent):
            e = c.event("responseVideoUpgrade", contact)
            expect(e.get("response") is False, f"{c.label}: response not false: {short(e)}")
            expect(e.get("requestID") == rq, f"{c.label}: requestID wrong: {short(e)}")
            expect(e.get("by") == agent.pid, f"{c.label}: by wrong: {short(e)}")
            expect(e.get("reason") == "busy right now", f"{c.label}: reason not relayed: {short(e)}")
        for c in (cust, agent):
            c.no_event("roomStarted", contact)
            c.no_event("participant", contact, duration=0)
        # nothing is pending any more
        cust.call_error("no_pending_request", "responseVideoUpgrade", contactID=contact,
                        response=True, divID="x")
        # back in chat: a new request is allowed
        request_upgrade(cust, agent, contact, "videoPanel", False, True)
        cust.call_error("request_pending", "requestVideoUpgrade", contactID=contact,
                        divID="again", useAudio=True, useVideo=True)
    finally:
        cleanup(net, cust, agent)


def check_errors(net: Net) -> None:
    cust, agent, contact = open_pair(net, "err")
    stranger = net.client("stranger")
    fresh = net.client("fresh")
    try:
        # bad JSON: unreadable, so no `re`
        cust.send_raw(b'{"v":1,"type":"ping","id":99,')
        e = net.wait_until(lambda: cust.unreadable_errors and cust.unreadable_errors.pop(0), WAIT)
        expect(e is not None, f"bad JSON: no error without re (got {short(cust.history[-3:])})")
        expect(e.get("code") == "bad_json", f"bad JSON: code {e.get('code')!r}, expected bad_json")
        expect("re" not in e, f"bad JSON error carries re: {short(e)}")

        # wrong version, unknown type: `re` when the request had an id
        cust.call_error("unsupported_version", "ping", v=2)
        cust.call_error("unknown_type", "frobnicate", contactID=contact)

        # a request before hello
        fresh.call_error("hello_required", "openContact", agent=agent.user_id)

        # the requester answering its own request
        rq = request_upgrade(cust, agent, contact, "videoPanel", True, True)
        cust.call_error("forbidden", "responseVideoUpgrade", contactID=contact,
                        response=True, divID="videoPanel")
        # ...changes nothing: the request is still pending and the agent may answer it
        cust.no_event("responseVideoUpgrade", contact, duration=0.3)
        agent.call_ok("responseVideoUpgrade", contactID=contact, response=False, divID="agentPanel")
        e = cust.event("responseVideoUpgrade", contact)
        expect(e.get("requestID") == rq and e.get("response") is False,
               f"answer after forbidden wrong: {short(e)}")

        # a stranger customer chatting in someone else's contact
        stranger.hello("customer", uid("Cstranger"))
        stranger.call_error("not_member", "chat", contactID=contact, text="let me in")
        for c in (cust, agent):
            c.no_event("chat", contact, duration=0.3)
    finally:
        cleanup(net, cust, agent, stranger, fresh)


def check_cancellation(net: Net) -> None:
    cust, agent, contact = open_pair(net, "can")
    try:
        rq = request_upgrade(cust, agent, contact, "videoPanel", True, True)
        cust.call_ok("leaveContact", contactID=contact)
        e = agent.event("requestVideoUpgradeCancelled", contact)
        expect(e.get("requestID") == rq, f"cancelled requestID {e.get('requestID')!r} != {rq!r}")
        expect(isinstance(e.get("reason"), str), f"cancelled without reason: {short(e)}")
        e = agent.event("contactClosed", contact)
        expect(e.get("by") == cust.pid, f"contactClosed by {e.get('by')!r} != {cust.pid!r}")
        expect(e.get("reason") == "left", f"contactClosed reason {e.get('reason')!r} != 'left'")
        # the contact is gone
        agent.call_error("unknown_contact", "responseVideoUpgrade", contactID=contact,
                         response=True, divID="agentPanel")
    finally:
        cleanup(net, cust, agent)


CHECKS: list[tuple[str, Callable[[Net], None]]] = [
    ("whole_escalation", check_whole_escalation),
    ("refusal", check_refusal),
    ("errors", check_errors),
    ("cancellation", check_cancellation),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True, help="the hub's signaling endpoint, e.g. tcp://127.0.0.1:5555")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failures")
    args = ap.parse_args()

    passed = failed = 0
    for name, fn in CHECKS:
        net = Net(args.hub)
        try:
            fn(net)
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - a crash is a failure of that check
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if args.verbose:
                traceback.print_exc()
        else:
            passed += 1
            print(f"PASS {name}", flush=True)
        finally:
            net.close()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
