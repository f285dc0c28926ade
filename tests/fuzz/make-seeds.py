#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (docs/fuzzing.md).

Run from the top of the tree: python3 tests/fuzz/make-seeds.py SAMPLE.json
where SAMPLE.json is one sample printed by `sno-agent --once` (its process
rows are cut to a few). /proc texts come from tests/unit/fixtures; requests
are signed with the key and secret the targets use. Inputs that hold
several texts separate them with NUL bytes (tests/fuzz/fuzz.h).
"""
import hashlib
import hmac
import json
import os
import sys

FX = "tests/unit/fixtures"
OUT = "tests/fuzz/corpus"
NOW = 1700000000
APP_KEY, APP_SECRET = "fuzzkey", "fuzzsecret"


def rd(*p):
    with open(os.path.join(FX, *p), "rb") as f:
        return f.read()


def put(target, name, *parts):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(b"\0".join(parts))


def proc_seeds():
    la, up = rd("proc", "loadavg"), rd("proc", "uptime")
    for a, b in (("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"),
                 ("short", "a")):
        put("proc_cpu", "stat-%s-%s" % (a, b), rd("stat." + a), la, up,
            rd("stat." + b))
    put("proc_cpu", "proc", rd("proc", "stat"), la, up, rd("proc", "stat"))
    for m in ("full", "lxc", "noavail", "broken"):
        put("proc_mem", "meminfo-" + m, rd("meminfo." + m), rd("vmstat.a"),
            rd("meminfo." + m), rd("vmstat.b"))
    put("proc_mem", "proc", rd("proc", "meminfo"), rd("proc", "vmstat"))
    put("proc_net", "netdev-ab", rd("netdev.a"), rd("netdev.b"))
    put("proc_net", "netdev-cd", rd("netdev.c"), rd("netdev.d"))
    put("proc_net", "proc", rd("proc", "net", "dev"), rd("proc", "net", "dev"))
    put("proc_disk", "diskstats-ab", rd("diskstats.a"), rd("diskstats.b"))
    put("proc_disk", "proc", rd("proc", "diskstats"), rd("proc", "diskstats"))
    put("proc_fs", "mounts", rd("mounts"))
    put("proc_fs", "proc-self", rd("proc", "self", "mounts"))
    cg = ("cgroot", "system.slice")
    put("proc_cg", "limited", rd("cg", "cpu.max.limited"),
        rd(*cg, "memory.max"), rd("cgproc", "self", "cgroup"),
        rd(*cg, "cpu.stat"), rd(*cg, "memory.current"),
        rd("cg", "memory.stat"), rd(*cg, "cpu.stat"), rd(*cg, "memory.stat"))
    put("proc_cg", "unlimited", rd("cg", "cpu.max.unlimited"), b"max\n",
        rd("proc", "self", "cgroup"), b"", b"", b"", b"", b"")
    status = rd("proc", "1", "status")
    for pid in ("1", "42", "43", "88", "99"):
        put("proc_pid", "pid-" + pid, rd("proc", pid, "stat"), la, status,
            rd("proc", pid, "cmdline"))
    put("proc_pid", "pid-77", rd("proc", "77", "stat"),
        rd("procpids", "loadavg"), b"Name:\tx\nTgid:\t76\nUid:\t4294967295"
        b"\t0\t0\t0\n", b"")
    put("proc_pid", "secrets", rd("proc", "1", "stat"), la, status,
        b"mysql\0-psecret\0--password\0hunter2\0https://u:pw@h/x\0"
        b"token=abc\0")


def conf_seeds():
    with open("packaging/agent.conf.example", "rb") as f:
        put("agent_conf", "example", f.read())
    put("agent_conf", "demo",
        b"[agent]\nrelay_url = http://127.0.0.1:8080\nhost_id = demo-1\n"
        b"key_file = /nonexistent/agent.key\ninterval_ms = 1000\n"
        b"top_processes = 30\nsend_cmdline = yes\n")
    put("agent_conf", "urls",
        b"; two relays\n[agent]\nrelay_url = https://a.example:8443,"
        b"https://b.example\nhost_id = h\noffline_buffer_s = 600\n")
    put("agent_conf", "bad", b"[agent]\ninterval_ms = ten\n[other]\nx=1\n")
    put("relay_conf", "demo",
        b"; sno demo configuration\n[relay]\nlisten = 127.0.0.1:8080\n"
        b"web_root = web/dist\nmetrics_app = sno\nsession_grace_s = 30\n\n"
        b"[app sno]\nid = sno\nkey = sno-demo-key\nsecret = s3cr3t\n\n"
        b"[account demo]\ntitle = Demo account\n\n[user demo]\n"
        b"account = demo\npassword_hash = $argon2id$v=19$m=65536,t=2,p=1$"
        b"c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n\n[host demo-1]\n"
        b"account = demo\nkey = " + b"ab" * 32 + b"\n")
    put("relay_conf", "tests",
        b"[relay]\nlisten = 127.0.0.1:0\nmax_message_bytes = 10240\n"
        b"activity_timeout = 120\nallowed_origins = http://a, http://b\n"
        b"\n[app demo]\nid = 1\nkey = k\nsecret = s\nclient_events = yes\n"
        b"webhook_url = http://127.0.0.1:9/hook\n")
    put("relay_conf", "tls",
        b"[relay]\nlisten = [::1]:8080\ntls_listen = 0.0.0.0:8443\n"
        b"tls_cert = c.pem\ntls_key = k.pem\n[app a]\nid=1\nkey=k\nsecret=s\n")


def sample_seeds(path):
    with open(path) as f:
        s = json.load(f)
    s["procs"] = s["procs"][:3]
    for row in s["procs"]:
        row[8] = row[7]  # no other helper's command lines in git
    full = json.dumps(s, separators=(",", ":")).encode()
    put("sample", "agent-once", full)
    s2 = {"v": 1, "host": "h", "seq": 9007199254740991, "ts_ms": 0,
          "dt_ms": 0, "cpu": {"n": 1}, "mem": {"total": 0, "used": 0},
          "tasks": {"total": 0}, "procs": [[]]}
    put("sample", "minimal", json.dumps(s2).encode())
    put("sample", "dup-keys", b'{"v":1,"host":"a","host":"b","seq":1}')
    put("sample", "seq-2-53", full.replace(b'"seq":1,',
                                            b'"seq":9007199254740992,', 1))


def signed(method, path, params, body):
    if body:
        params = dict(params, body_md5=hashlib.md5(body).hexdigest())
    params = dict(params, auth_key=APP_KEY, auth_timestamp=str(NOW),
                  auth_version="1.0")
    q = "&".join("%s=%s" % (k, params[k]) for k in sorted(params))
    sig = hmac.new(APP_SECRET.encode(), ("%s\n%s\n%s" % (method, path, q))
                   .encode(), hashlib.sha256).hexdigest()
    return q + "&auth_signature=" + sig


def request_seeds():
    ev = b'{"name":"e","channels":["a","private-b"],"data":"{\\"x\\":1}"}'
    put("http_auth", "events", b"POST", b"/apps/1/events",
        signed("POST", "/apps/1/events", {}, ev).encode(), ev)
    batch = b'{"batch":[{"name":"e","channel":"a","data":"1"}]}'
    put("http_auth", "batch", b"POST", b"/apps/1/batch_events",
        signed("POST", "/apps/1/batch_events", {}, batch).encode(), batch)
    put("http_auth", "channels", b"GET", b"/apps/1/channels",
        signed("GET", "/apps/1/channels",
               {"filter_by_prefix": "presence-", "info": "user_count"},
               b"").encode(), b"")
    put("http_auth", "pct", b"GET", b"/apps/1/channels/a%20b",
        b"auth_key=fuzzkey&auth_timestamp=1700000000&auth_version=1.0&"
        b"info=subscription_count%2Cuser_count&auth_signature=00", b"")
    sid, ch = "1234.5678", "private-host-demo-1"
    sig = hmac.new(APP_SECRET.encode(), ("%s:%s" % (sid, ch)).encode(),
                   hashlib.sha256).hexdigest()
    put("pusher_auth", "private", sid.encode(), ch.encode(), b"",
        ("%s:%s" % (APP_KEY, sig)).encode())
    cd = '{"user_id":"u1","user_info":{"name":"A"}}'
    ch = "presence-room"
    sig = hmac.new(APP_SECRET.encode(), ("%s:%s:%s" % (sid, ch, cd))
                   .encode(), hashlib.sha256).hexdigest()
    put("pusher_auth", "presence", sid.encode(), ch.encode(), cd.encode(),
        ("%s:%s" % (APP_KEY, sig)).encode())
    ud = '{"id":"u1"}'
    sig = hmac.new(APP_SECRET.encode(), ("%s::user::%s" % (sid, ud))
                   .encode(), hashlib.sha256).hexdigest()
    put("pusher_auth", "signin", sid.encode(), b"", ud.encode(),
        ("%s:%s" % (APP_KEY, sig)).encode())
    key = bytes(range(32))
    body = b'[{"v":1,"host":"demo-1","seq":1}]'
    ts = "1700000000123"
    msg = "POST\n/agent/v1/samples\n%s\n%s" % (
        ts, hashlib.sha256(body).hexdigest())
    sig = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
    put("agent_sig", "samples", key.hex().encode(), b"POST",
        b"/agent/v1/samples", ts.encode(), sig.encode(), body)
    put("agent_sig", "checkin", key.hex().upper().encode(), b"GET",
        b"/agent/v1/checkin", ts.encode(), b"0" * 64, b"")
    tok = "0123456789abcdef" * 4
    put("dash_api", "login", ("theme=dark; sno_session=" + tok).encode(),
        b'{"user":"demo","password":"demo"}',
        b"socket_id=1234.5678&channel_name=private-host-demo-1",
        b"/hosts/demo-1/history", b"42")
    put("dash_api", "bad", b"sno_session=xyz;sno_session=" + tok.encode(),
        b'{"user":1}', b"socket_id=%zz", b"/hosts//history", b"-1")


def msg(event, data=None, channel=None):
    m = {"event": event}
    if data is not None:
        m["data"] = data
    if channel is not None:
        m["channel"] = channel
    return json.dumps(m, separators=(",", ":")).encode()


def rec(conn, m, sign=False):
    return bytes([0x30 | conn | (0x80 if sign else 0)]) + m


def relay_seeds(path):
    sub = lambda ch, **kw: msg("pusher:subscribe", dict(channel=ch, **kw))
    put("pusher", "public", rec(0, sub("a")), rec(1, sub("a")),
        rec(0, msg("pusher:ping", {})), rec(1, msg("pusher:unsubscribe",
                                                   {"channel": "a"})))
    cd = '{"user_id":"u1","user_info":{"name":"A"}}'
    put("pusher", "private-presence",
        rec(0, sub("private-x", auth="x"), True),
        rec(1, sub("presence-room", auth="x", channel_data=cd), True),
        rec(2, sub("presence-room", auth="x",
                   channel_data='{"user_id":2}'), True),
        rec(0, msg("client-typing", {"a": 1}, "private-x")),
        rec(1, msg("client-hi", "text", "presence-room")),
        rec(2, msg("pusher:unsubscribe", {"channel": "presence-room"})))
    put("pusher", "signin",
        rec(2, msg("pusher:signin", {"user_data": '{"id":"u2"}',
                                     "auth": "x"}), True),
        rec(2, sub("#server-to-user-u2")),
        rec(2, sub("presence-p", auth="x"), True))
    put("pusher", "cache",
        rec(0, sub("private-cache-x", auth="x"), True),
        rec(0, msg("client-e", {"v": 1}, "private-cache-x")),
        rec(1, sub("private-cache-x", auth="x"), True),
        rec(3, sub("cache-y")))
    put("pusher", "refusals",
        # defect 4: "Unsupported event %.200s" cuts an é in two
        rec(0, b'{"event":"a' + "\u00e9".encode() * 150 + b'"}'),
        rec(1, sub("private-x", auth="fuzzkey:00", channel_data=cd)),
        rec(2, b"not json"), rec(3, b'{"event":"pusher:subscribe",'
                                    b'"data":"{\\"channel\\":\\"a\\"}"}'),
        rec(0, msg("pusher:subscribe", {"channel": "x" * 201})))
    with open(os.path.join(OUT, "http_auth", "events"), "rb") as f:
        parts = f.read().split(b"\0")
    ev = b'{"name":"e","channels":["a","private-b","presence-c"],' \
         b'"data":"{\\"x\\":1}","socket_id":"1.2"}'
    put("http_api", "events", b"!POST", b"/apps/1/events", b"", ev)
    put("http_api", "events-raw", *parts)
    put("http_api", "batch", b"!POST", b"/apps/1/batch_events", b"",
        b'{"batch":[{"name":"e","channel":"a","data":"1"},'
        b'{"name":"f","channel":"presence-c","data":"{}","info":'
        b'"subscription_count,user_count"}]}')
    put("http_api", "channels", b"!GET", b"/apps/1/channels",
        b"filter_by_prefix=presence-&info=user_count", b"")
    put("http_api", "channel", b"!GET", b"/apps/1/channels/presence-c",
        b"info=subscription_count,user_count,cache", b"")
    put("http_api", "users", b"!GET", b"/apps/1/channels/presence-c/users",
        b"", b"")
    put("http_api", "terminate", b"!POST",
        b"/apps/1/users/u1/terminate_connections", b"", b"{}")
    put("http_api", "nul-data", b"!POST", b"/apps/1/events", b"",
        b'{"name":"e","channel":"a","data":"before\\u0000after"}')
    with open(path) as f:
        s = json.load(f)
    s["procs"] = s["procs"][:3]
    for row in s["procs"]:
        row[8] = row[7]
    s["host"] = "demo-1"
    one = lambda seq: dict(s, seq=seq)
    dump = lambda o: json.dumps(o, separators=(",", ":")).encode()
    put("host_samples", "one", dump([one(1)]))
    put("host_samples", "two", dump([one(1), one(2)]))
    put("host_samples", "seq-2-53", dump([one(9007199254740992)]))
    put("host_samples", "dup-keys",
        dump([one(1)]).replace(b'"seq":1,', b'"seq":1,"seq":5,', 1))
    put("host_samples", "wrong-host", dump([dict(one(1), host="other")]))


def head_seeds():
    """Heads of POSTs as clients send them (fuzz_http_head): method, path,
    query, header lines, Content-Length, bytes other requests hold."""
    ev = b'{"name":"e","channels":["a"],"data":"{\\"x\\":1}"}'
    big = b"x" * 200000
    sdk = (b"Host: 127.0.0.1:8080\nUser-Agent: pusher-http-python 3.3.2\n"
           b"Content-Type: application/json\nAccept-Encoding: gzip\n")
    q = lambda body: signed("POST", "/apps/1/events", {}, body).encode()
    n = lambda body: str(len(body)).encode()
    put("http_head", "apps-events", b"POST", b"/apps/1/events", q(ev), sdk,
        n(ev))
    # auth_timestamp NOW is long past: refused at the head when big
    put("http_head", "apps-events-big", b"POST", b"/apps/1/events", q(big),
        sdk, n(big))
    # "!": the harness signs with the time now, so the head passes
    put("http_head", "apps-signed-big", b"!POST", b"/apps/1/batch_events",
        b"", sdk, b"300000")
    put("http_head", "apps-too-big", b"!POST", b"/apps/1/events", b"", sdk,
        b"400000")
    put("http_head", "apps-bad-key", b"POST", b"/apps/1/events",
        q(big).replace(b"fuzzkey", b"wrongkey"), sdk, n(big))
    put("http_head", "apps-unknown-app", b"POST", b"/apps/7/events", q(big),
        sdk, n(big))
    # head_utf8: the answer echoes a cut character
    put("http_head", "apps-bad-version", b"POST", b"/apps/1/events",
        q(big).replace(b"auth_version=1.0", b"auth_version=%C3%A9t%C3"),
        sdk, n(big))
    put("http_head", "budget-full", b"POST", b"/apps/1/events", q(ev), sdk,
        n(ev), b"67108000")
    sig = signed("POST", "/", {}, b"").split("auth_signature=")[1].encode()
    agent = (b"User-Agent: sno-agent/0.9\nContent-Type: application/json\n"
             b"X-Sno-Host: demo-1\nX-Sno-Timestamp: 1700000000000\n"
             b"X-Sno-Signature: " + sig + b"\n")
    put("http_head", "agent-samples", b"POST", b"/agent/v1/samples", b"",
        agent, b"90000")
    put("http_head", "agent-signed", b"!POST", b"/agent/v1/samples", b"",
        b"User-Agent: sno-agent/0.9\nContent-Type: application/json\n",
        b"500000")
    put("http_head", "agent-unknown-host", b"POST", b"/agent/v1/checkin",
        b"", agent.replace(b"demo-1", b"nosuch"), b"70000")
    dash = (b"Host: 127.0.0.1:0\nOrigin: http://127.0.0.1:0\n"
            b"Content-Type: application/json\nCookie: theme=dark")
    put("http_head", "dash-login", b"POST", b"/api/v1/login", b"",
        dash + b"\n", b"70000")
    # head_login: a session cookie before any dashboard request
    put("http_head", "dash-logout-cookie", b"POST", b"/api/v1/logout", b"",
        dash + b"; sno_session=" + sig + b"\n", b"70000")
    put("http_head", "dash-cross-origin", b"POST", b"/api/v1/login", b"",
        b"Origin: https://evil.example\n", b"70000")
    put("http_head", "dash-small", b"POST", b"/api/v1/auth", b"",
        b"Origin: https://evil.example\n", b"512")
    put("http_head", "other-path-big", b"POST", b"/healthz", b"", b"",
        b"65537")


def frame_seeds():
    """Byte streams a connection sends (fuzz_http_frame): a seed byte for
    the piece sizes, then the stream."""
    post = (b"POST /apps/1/events?auth_key=x HTTP/1.1\r\nHost: a\r\n"
            b"Content-Length: 2\r\n\r\n{}")
    get = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
    put("http_frame", "pipelined-posts", b"\x07" + post + post)
    put("http_frame", "get-post-get", b"\x01" + get + post + get)
    put("http_frame", "post-then-part", b"\x2a" + post + post[:30])
    put("http_frame", "lf-only", b"\x05GET / HTTP/1.1\nHost: a\n\nGET / "
        b"HTTP/1.1\n\n")
    put("http_frame", "leading-crlf", b"\x03\r\n" + get)
    put("http_frame", "no-colon", b"\x09POST / HTTP/1.1\r\nFoo\r\n\r\n"
        b"\r\r\n" + post)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make-seeds.py SAMPLE.json")
    proc_seeds()
    conf_seeds()
    sample_seeds(sys.argv[1])
    request_seeds()
    relay_seeds(sys.argv[1])
    head_seeds()
    frame_seeds()
