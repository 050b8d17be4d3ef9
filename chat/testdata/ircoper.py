"""A server operator built on python3-irc, for portside's chat tests.

Usage: python3 ircoper.py HOST PORT NAME PASSWORD VICTIM

It becomes an operator with OPER NAME PASSWORD, joins #lobby, where VICTIM
is, KILLs VICTIM, and quits once it has seen VICTIM quit; then it exits 0.
Every event it sees is printed as a JSON array, one a line, for the test to
check.
"""
import json
import sys
import time

import irc.client

host, port, name, password, victim = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def nick(e):
    return irc.client.NickMask(str(e.source)).nick


def out(*a):
    print(json.dumps(a), flush=True)


def on_welcome(c, e):
    out("welcome", e.target)
    c.oper(name, password)


def on_youreoper(c, e):
    out("youreoper")
    c.join("#lobby")


def on_umode(c, e):
    out("umode", nick(e), e.target, e.arguments)


def on_namreply(c, e):
    names = sorted(e.arguments[2].split())
    out("names", e.arguments[1], names)
    if victim in [n.lstrip("@+") for n in names]:
        c.send_raw("KILL %s :spamming" % victim)


def on_quit(c, e):
    out("quit", nick(e), e.arguments[0])
    if nick(e) == victim:
        c.quit("done")


def on_error(c, e):
    out("error", e.type, e.arguments)


def on_disconnect(c, e):
    out("disconnect")
    sys.exit(0)


client = irc.client.IRC()
conn = client.server().connect(host, port, "pyoper")
for ev, fn in [("welcome", on_welcome), ("youreoper", on_youreoper), ("umode", on_umode),
               ("namreply", on_namreply), ("quit", on_quit), ("passwdmismatch", on_error),
               ("noprivileges", on_error), ("nosuchnick", on_error), ("disconnect", on_disconnect)]:
    conn.add_global_handler(ev, fn)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    client.process_once(0.2)
out("timeout")
sys.exit(1)
