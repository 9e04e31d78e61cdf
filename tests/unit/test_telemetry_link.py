"""Fault injection, the in-memory link and reliable sessions (``itb.telemetry``), all in virtual time."""

from __future__ import annotations

from collections import Counter

import pytest

from itb.telemetry.faults import FAULTS, FaultInjector, FaultSpec
from itb.telemetry.frames import Frame, FrameType, decode, encode, json_payload, parse_payload
from itb.telemetry.session import ClientSession, LinkDown, RemoteError, ServerEndpoint, UncertainOutcome
from itb.telemetry.transport import LoopbackLink


class CountingHandler:
    """A pump stand-in: answers ``{"n": n, "double": 2n}`` and counts calls per request number."""

    def __init__(self) -> None:
        self.calls: Counter[int] = Counter()

    def __call__(self, session: int, request: dict) -> dict:
        if request.get("refuse"):
            self.calls[request["n"]] += 1
            raise ValueError(f"dose: {request['refuse']}")
        self.calls[request["n"]] += 1
        return {"n": request["n"], "double": 2 * request["n"], "session": session}


def make_link(spec: FaultSpec | None = None, **endpoint_kw):
    handler = CountingHandler()
    ended: list[int] = []
    endpoint = ServerEndpoint(handler, ended.append, **endpoint_kw)
    injector = FaultInjector(spec) if spec is not None else None
    link = LoopbackLink(endpoint.on_frame, injector)
    return link, endpoint, handler, ended


def req(session: int, seq: int, payload: bytes) -> bytes:
    return encode(Frame(FrameType.REQUEST, session, seq, payload))


def error_message(data: bytes) -> tuple[int, int, str]:
    frame = decode(data)
    assert frame.type is FrameType.ERROR
    return frame.session, frame.seq, parse_payload(frame)["error"]


# -- FaultSpec.parse --------------------------------------------------------------------------


def test_parse_rates():
    spec = FaultSpec.parse("drop=0.05,corrupt=0.02,duplicate=0.01,delay=0.05,reorder=0.02,cut=0.01,seed=7")
    assert spec == FaultSpec(drop=0.05, corrupt=0.02, duplicate=0.01, delay=0.05, reorder=0.02, cut=0.01, seed=7)
    assert spec.active


def test_parse_script_and_combined():
    spec = FaultSpec.parse("script=drop@3;corrupt@5;duplicate@6;delay@8;reorder@9;cut@12")
    assert spec.script == ((3, "drop"), (5, "corrupt"), (6, "duplicate"), (8, "delay"), (9, "reorder"), (12, "cut"))
    both = FaultSpec.parse(" drop=0.1 , script=cut@12;drop@3 , seed=1")
    assert both == FaultSpec(drop=0.1, seed=1, script=((3, "drop"), (12, "cut")))


@pytest.mark.parametrize("text", ["", "none", "  NONE "])
def test_parse_no_faults(text):
    assert FaultSpec.parse(text) == FaultSpec()
    assert not FaultSpec.parse(text).active


@pytest.mark.parametrize(
    "text", ["drop=0.05,corrupt=0.02,seed=7", "script=drop@3;cut@12", "delay=1,reorder=0.5,script=corrupt@2", "none"]
)
def test_str_is_the_cli_form(text):
    spec = FaultSpec.parse(text)
    assert FaultSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop=x", "faults.drop: must be a number from 0 to 1, got 'x'"),
        ("corrupt=1.5", "faults.corrupt: must be a number from 0 to 1, got '1.5'"),
        ("delay=-0.1", "faults.delay: must be a number from 0 to 1, got '-0.1'"),
        ("cut=nan", "faults.cut: must be a number from 0 to 1, got 'nan'"),
        (
            "jitter=0.1",
            "faults.jitter: unknown fault; known: drop, corrupt, duplicate, delay, reorder, cut, seed, script",
        ),
        ("drop", "faults.drop: has no value"),
        ("drop=0.1,drop=0.2", "faults.drop: given twice"),
        ("seed=abc", "faults.seed: must be an integer, got 'abc'"),
        ("script=drop3", "faults.script: 'drop3' must be ACTION@FRAME"),
        ("script=melt@3", "faults.script: unknown action 'melt' in 'melt@3'"),
        ("script=drop@0", "faults.script: frame index must be an integer from 1, got '0'"),
        ("script=drop@x", "faults.script: frame index must be an integer from 1, got 'x'"),
        ("script=drop@3;cut@3", "faults.script: frame 3 has two actions"),
        ("script=", "faults.script: is empty"),
    ],
)
def test_parse_errors_name_the_key_and_the_rule(text, message):
    with pytest.raises(ValueError) as info:
        FaultSpec.parse(text)
    assert str(info.value).startswith(message)


def test_spec_validates_direct_construction():
    with pytest.raises(ValueError, match=r"faults\.drop: must be a number from 0 to 1"):
        FaultSpec(drop=2)
    with pytest.raises(ValueError, match=r"faults\.script: unknown action"):
        FaultSpec(script=((1, "melt"),))


# -- FaultInjector ----------------------------------------------------------------------------

FRAME = encode(Frame(FrameType.REQUEST, 5, 9, b'{"n":1}'))
N = 20_000


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "cut"])
def test_each_rate_faults_about_that_share_of_frames(fault):
    injector = FaultInjector(FaultSpec(seed=3, **{fault: 0.3}))
    fates = [injector.apply(FRAME) for _ in range(N)]
    count = injector.counts[fault]
    assert abs(count / N - 0.3) < 0.02
    assert sum(injector.counts.values()) == count
    faulted = [f for f in fates if f != [(0, FRAME)]]
    assert len(faulted) == count
    for fate in faulted:
        if fault == "drop":
            assert fate == []
        elif fault == "corrupt":
            ((delay, data),) = fate
            flipped = sum(bin(a ^ b).count("1") for a, b in zip(data, FRAME))
            assert delay == 0 and len(data) == len(FRAME) and 1 <= flipped <= 3
        elif fault == "duplicate":
            assert fate == [(0, FRAME), (0, FRAME)]
        elif fault == "delay":
            ((delay, data),) = fate
            assert delay >= 1 and data == FRAME
        else:
            assert fate == [(1, FRAME)]


def test_cut_rate_blocks_everything_until_reconnect():
    injector = FaultInjector(FaultSpec(cut=0.1, seed=4))
    fates = [injector.apply(FRAME) for _ in range(200)]
    first = next(i for i, fate in enumerate(fates) if fate == [])
    assert all(fate == [(0, FRAME)] for fate in fates[:first])
    assert all(fate == [] for fate in fates[first:])
    assert injector.cut_active and injector.counts["cut"] == 1 and injector.lost_in_cut == 200 - first - 1
    injector.reconnect()
    assert not injector.cut_active


def test_script_does_exactly_what_it_says():
    injector = FaultInjector(FaultSpec.parse("script=drop@3;corrupt@5;duplicate@6;delay@8;reorder@9;cut@12,seed=1"))
    fates = {i: injector.apply(FRAME) for i in range(1, 16)}
    assert fates[3] == []
    assert len(fates[5]) == 1 and fates[5][0][1] != FRAME
    assert fates[6] == [(0, FRAME), (0, FRAME)]
    assert fates[8][0][0] >= 1 and fates[8][0][1] == FRAME
    assert fates[9] == [(1, FRAME)]
    assert all(fates[i] == [] for i in range(12, 16))
    assert all(fates[i] == [(0, FRAME)] for i in (1, 2, 4, 7, 10, 11))
    assert injector.counts == {"drop": 1, "corrupt": 1, "duplicate": 1, "delay": 1, "reorder": 1, "cut": 1}
    assert injector.frames == 15 and injector.lost_in_cut == 3
    injector.reconnect()
    assert injector.apply(FRAME) == [(0, FRAME)]


def test_same_seed_same_faults():
    spec = FaultSpec(drop=0.1, corrupt=0.1, duplicate=0.1, delay=0.1, reorder=0.1, cut=0.001, seed=42)
    runs = []
    for _ in range(2):
        injector = FaultInjector(spec)
        runs.append(([injector.apply(FRAME) for _ in range(3000)], dict(injector.counts)))
    assert runs[0] == runs[1]
    other = FaultInjector(FaultSpec(drop=0.1, corrupt=0.1, duplicate=0.1, delay=0.1, reorder=0.1, cut=0.001, seed=43))
    assert [other.apply(FRAME) for _ in range(3000)] != runs[0][0]


# -- LoopbackLink -----------------------------------------------------------------------------


class Recorder:
    """A server callback that records what reaches it and answers nothing (or echoes)."""

    def __init__(self, echo: bool = False) -> None:
        self.got: list[bytes] = []
        self.echo = echo

    def __call__(self, data: bytes) -> list[bytes]:
        self.got.append(data)
        return [b"re:" + data] if self.echo else []


def test_reorder_swaps_a_frame_with_the_next():
    server = Recorder()
    link = LoopbackLink(server, FaultInjector(FaultSpec.parse("script=reorder@1")))
    for data in (b"A", b"B", b"C"):
        link.client.send(data)
    assert server.got == [b"B", b"A", b"C"]


def test_delay_holds_a_frame_for_k_later_frames():
    spec = FaultSpec.parse("script=delay@1,seed=5")
    ((k, _),) = FaultInjector(spec).apply(b"A")
    server = Recorder()
    link = LoopbackLink(server, FaultInjector(spec))
    sent = [bytes([65 + i]) for i in range(k + 2)]
    for data in sent:
        link.client.send(data)
    assert server.got == [*sent[1 : k + 1], b"A", *sent[k + 1 :]]


def test_late_answer_arrives_when_the_client_would_time_out():
    server = Recorder(echo=True)
    link = LoopbackLink(server, FaultInjector(FaultSpec.parse("script=delay@2")))
    link.client.send(b"A")  # frame 1 up; its echo is frame 2 down, held back
    assert server.got == [b"A"]
    assert link.client.recv(0.25) == b"re:A"  # released instead of a timeout
    assert link.client.recv(0.25) is None
    assert link.clock_s == pytest.approx(0.5)


def test_recv_returns_at_once_with_nothing_due():
    link = LoopbackLink(Recorder())
    assert link.client.recv(1.5) is None
    assert link.clock_s == 1.5


def test_cut_blocks_both_directions_until_reconnect():
    server = Recorder(echo=True)
    link = LoopbackLink(server, FaultInjector(FaultSpec.parse("script=cut@3")))
    link.client.send(b"A")  # frames 1 (up) and 2 (down)
    assert link.client.recv(0.1) == b"re:A"
    link.client.send(b"B")  # frame 3: the cut
    link.client.send(b"C")
    assert server.got == [b"A"] and link.client.recv(0.1) is None
    link.reconnect()
    link.client.send(b"D")
    assert server.got == [b"A", b"D"] and link.client.recv(0.1) == b"re:D"


def test_closed_loopback_client_refuses():
    link = LoopbackLink(Recorder())
    link.client.close()
    with pytest.raises(ConnectionError):
        link.client.send(b"A")


# -- sessions over a faulty link ----------------------------------------------------------------


def test_clean_link_round_trip():
    link, endpoint, handler, ended = make_link()
    with ClientSession(link.client) as client:
        sid = client.session_id
        assert sid in endpoint.sessions
        assert client.request({"n": 1}) == {"n": 1, "double": 2, "session": sid}
        assert client.request({"n": 2})["double"] == 4
        assert client.stats["retransmitted"] == 0
    assert ended == [sid] and endpoint.sessions == frozenset()
    assert handler.calls == {1: 1, 2: 1}


def test_1000_requests_through_20_percent_of_every_fault():
    spec = FaultSpec(drop=0.2, corrupt=0.2, duplicate=0.2, delay=0.2, reorder=0.2, seed=2024)
    link, _, handler, _ = make_link(spec)
    client = ClientSession(link.client, max_attempts=25)
    client.open()
    for n in range(1000):
        assert client.request({"n": n}) == {"n": n, "double": 2 * n, "session": client.session_id}
    assert handler.calls == dict.fromkeys(range(1000), 1)  # once per request, retransmissions or not
    counts = link.faults.counts
    assert all(counts[f] > 100 for f in ("drop", "corrupt", "duplicate", "delay", "reorder"))
    assert client.stats["retransmitted"] > 300 and client.stats["corrupted"] > 100 and client.stats["ignored"] > 100


def test_with_default_attempts_every_request_is_answered_or_uncertain():
    spec = FaultSpec(drop=0.2, corrupt=0.2, duplicate=0.2, delay=0.2, reorder=0.2, seed=7)
    link, _, handler, _ = make_link(spec)
    client = ClientSession(link.client)
    client.open()
    answered, uncertain = [], []
    for n in range(1000):
        try:
            assert client.request({"n": n})["double"] == 2 * n
            answered.append(n)
        except UncertainOutcome as exc:
            assert "sent 6 times, no answer: the pump may or may not have applied it; read its log" in str(exc)
            assert exc.seq == n + 1 and exc.attempts == 6 and exc.payload == {"n": n}
            uncertain.append(n)
    assert uncertain and len(answered) > 900
    assert all(handler.calls[n] == 1 for n in answered)
    assert all(handler.calls[n] <= 1 for n in uncertain)


def test_cut_mid_session_is_uncertain_then_a_new_session_works():
    link, endpoint, handler, _ = make_link(FaultSpec.parse("script=cut@9"))
    client = ClientSession(link.client)
    old = client.open()  # frames 1-2
    for n in range(3):  # frames 3-8
        client.request({"n": n})
    with pytest.raises(UncertainOutcome, match=r"sent 6 times, no answer"):
        client.request({"n": 3})  # frame 9: the wand slipped
    assert handler.calls[3] == 0  # here it was not applied, but the client cannot know that
    client.close()  # best effort: lost in the cut, no exception
    link.reconnect()
    with ClientSession(link.client) as again:
        assert again.session_id != old
        assert again.request({"n": 4})["double"] == 8
    assert old in endpoint.sessions  # the orphan stays until it expires
    assert endpoint.expire(old) and not endpoint.expire(old)


def test_open_with_no_answer_is_link_down():
    link, endpoint, _, _ = make_link(FaultSpec(drop=1.0))
    client = ClientSession(link.client, max_attempts=3)
    with pytest.raises(LinkDown, match="no answer to OPEN after 3 attempts"):
        client.open()
    assert endpoint.sessions == frozenset()
    with pytest.raises(RuntimeError, match="not open"):
        client.request({"n": 1})


def test_open_on_a_closed_transport_is_link_down():
    link, _, _, _ = make_link()
    link.client.close()
    with pytest.raises(LinkDown, match="closed"):
        ClientSession(link.client).open()


def test_lost_open_ok_gives_the_same_session_on_retry():
    link, endpoint, _, _ = make_link(FaultSpec.parse("script=drop@2"))  # the first OPEN_OK is lost
    client = ClientSession(link.client)
    sid = client.open()
    assert endpoint.sessions == frozenset({sid})
    assert client.stats["retransmitted"] == 1


def test_refused_request_is_a_remote_error_and_not_retried():
    link, _, handler, _ = make_link(FaultSpec.parse("script=drop@4"))  # the ERROR answer is lost once
    with ClientSession(link.client) as client:
        with pytest.raises(RemoteError) as info:
            client.request({"n": 1, "refuse": "over the maximum"})
        assert info.value.message == "dose: over the maximum"
        assert handler.calls[1] == 1 and client.stats["retransmitted"] == 1
        assert client.request({"n": 2})["double"] == 4


def test_request_in_an_unknown_session_is_a_remote_error():
    link, endpoint, handler, _ = make_link()
    client = ClientSession(link.client)
    sid = client.open()
    endpoint.expire(sid)
    with pytest.raises(RemoteError, match=r"^session: unknown or closed$"):
        client.request({"n": 1})
    assert not handler.calls


def test_client_ignores_frames_for_other_sessions_and_old_seqs():
    link, _, _, _ = make_link()
    client = ClientSession(link.client)
    sid = client.open()
    assert client.request({"n": 1})["n"] == 1
    stale = [
        encode(Frame(FrameType.RESPONSE, sid + 1, 2, json_payload({"n": "other session"}))),
        encode(Frame(FrameType.RESPONSE, sid, 1, json_payload({"n": "old seq"}))),
        b"IT garbage",
    ]
    link._inbox.extend(stale)
    assert client.request({"n": 2})["n"] == 2
    assert client.stats["ignored"] == 2 and client.stats["corrupted"] == 1


def test_unsendable_answer_is_uncertain_and_not_applied_twice():
    calls = []

    def handle(session: int, request: dict) -> dict:
        calls.append(request)
        return {"blob": "x" * 2000}

    link = LoopbackLink(ServerEndpoint(handle).on_frame)
    client = ClientSession(link.client, max_attempts=3)
    client.open()
    with pytest.raises(UncertainOutcome, match="sent 3 times"):
        client.request({"n": 1})
    assert len(calls) == 1


def test_request_too_long_is_refused_before_sending():
    link, _, _, _ = make_link()
    client = ClientSession(link.client)
    client.open()
    sent = client.stats["sent"]
    with pytest.raises(Exception, match="too long"):
        client.request({"x": "a" * 2000})
    assert client.stats["sent"] == sent and client.last_seq == 0


# -- ServerEndpoint on its own ------------------------------------------------------------------


def open_session(endpoint: ServerEndpoint, nonce: int = 77) -> int:
    (reply,) = endpoint.on_frame(encode(Frame(FrameType.OPEN, 0, nonce)))
    frame = decode(reply)
    assert frame.type is FrameType.OPEN_OK and frame.seq == nonce and frame.session != 0
    return frame.session


def test_retransmitted_seq_is_answered_from_cache_without_calling_handle():
    handler = CountingHandler()
    endpoint = ServerEndpoint(handler)
    sid = open_session(endpoint)
    frame = req(sid, 1, json_payload({"n": 1}))
    answers = [endpoint.on_frame(frame) for _ in range(5)]
    assert handler.calls == {1: 1}
    assert all(a == answers[0] for a in answers)
    response = decode(answers[0][0])
    assert response.type is FrameType.RESPONSE and response.seq == 1 and parse_payload(response)["double"] == 2


def test_refusals_are_cached_too():
    handler = CountingHandler()
    endpoint = ServerEndpoint(handler)
    sid = open_session(endpoint)
    frame = req(sid, 1, json_payload({"n": 1, "refuse": "no"}))
    first, second = endpoint.on_frame(frame), endpoint.on_frame(frame)
    assert first == second and error_message(first[0]) == (sid, 1, "dose: no")
    assert handler.calls == {1: 1}


def test_older_seq_is_refused():
    handler = CountingHandler()
    endpoint = ServerEndpoint(handler)
    sid = open_session(endpoint)
    endpoint.on_frame(req(sid, 1, json_payload({"n": 1})))
    endpoint.on_frame(req(sid, 3, json_payload({"n": 3})))
    (late,) = endpoint.on_frame(req(sid, 2, json_payload({"n": 2})))
    assert error_message(late) == (sid, 2, "seq: 2 is older than the last answered (3); refused")
    (zero,) = endpoint.on_frame(req(sid, 0, json_payload({"n": 0})))
    assert error_message(zero)[1] == 0
    assert handler.calls == {1: 1, 3: 1}


def test_unknown_session_is_an_error():
    endpoint = ServerEndpoint(CountingHandler())
    (reply,) = endpoint.on_frame(req(1234, 5, b"{}"))
    assert error_message(reply) == (1234, 5, "session: unknown or closed")
    (reply,) = endpoint.on_frame(encode(Frame(FrameType.CLOSE, 1234, 6)))
    assert error_message(reply) == (1234, 6, "session: unknown or closed")


def test_malformed_frames():
    endpoint = ServerEndpoint(CountingHandler())
    sid = open_session(endpoint)
    good = bytearray(req(sid, 1, json_payload({"n": 1})))
    good[-1] ^= 1
    (reply,) = endpoint.on_frame(bytes(good))
    assert error_message(reply) == (0, 0, "frame.crc: does not match the frame's contents (corrupted)")
    assert endpoint.on_frame(b"garbage, not a frame at all") == []
    assert endpoint.on_frame(b"IT") == []


@pytest.mark.parametrize(("payload", "words"), [(b"[1]", "got an array"), (b"{oops", "not valid JSON"), (b"", "JSON")])
def test_payload_that_is_not_a_json_object_is_an_error(payload, words):
    handler = CountingHandler()
    endpoint = ServerEndpoint(handler)
    sid = open_session(endpoint)
    (reply,) = endpoint.on_frame(req(sid, 1, payload))
    session, seq, message = error_message(reply)
    assert (session, seq) == (sid, 1) and message.startswith("frame.payload:") and words in message
    assert not handler.calls


def test_pump_bound_types_only():
    endpoint = ServerEndpoint(CountingHandler())
    sid = open_session(endpoint)
    (reply,) = endpoint.on_frame(encode(Frame(FrameType.RESPONSE, sid, 1, b"{}")))
    assert "RESPONSE is not sent to a pump" in error_message(reply)[2]
    assert endpoint.on_frame(encode(Frame(FrameType.ERROR, sid, 1, b"{}"))) == []


def test_close_ends_the_session():
    ended: list[int] = []
    endpoint = ServerEndpoint(CountingHandler(), ended.append)
    sid = open_session(endpoint)
    (reply,) = endpoint.on_frame(encode(Frame(FrameType.CLOSE, sid, 1)))
    assert decode(reply) == Frame(FrameType.CLOSE_OK, sid, 1)
    assert ended == [sid] and sid not in endpoint.sessions


def test_session_ids_are_unique_and_open_is_idempotent_per_nonce():
    endpoint = ServerEndpoint(CountingHandler())
    ids = {open_session(endpoint, nonce) for nonce in range(1, 301)}
    assert len(ids) == 300 and 0 not in ids
    assert open_session(endpoint, 5) in ids and len(endpoint.sessions) == 300


def test_idle_sessions_expire_after_requests_elsewhere():
    ended: list[int] = []
    endpoint = ServerEndpoint(CountingHandler(), ended.append, idle_limit=3)
    idle, busy = open_session(endpoint, 1), open_session(endpoint, 2)
    for seq in range(1, 5):
        endpoint.on_frame(req(busy, seq, json_payload({"n": seq})))
    assert ended == [idle] and endpoint.sessions == frozenset({busy})
