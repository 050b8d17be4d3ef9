"""An IRC client built on python3-irc, for portside's chat tests.

Usage: python3 ircpeer.py HOST PORT

It joins #lobby, says hello, and waits to be spoken to from the line door:
a message in the channel, an action and a private message. Then it answers,
quits, and exits 0. Every event it sees is printed as a JSON array, one a
line, for the test to check.
"""
import json
import sys
import time

import irc.client

host, port = sys.argv[1], int(sys.argv[2])
seen = set()
done = []


def nick(e):
    # Some events carry the source as a plain string.
    return irc.client.NickMask(str(e.source)).nick


def out(*a):
    print(json.dumps(a), flush=True)


def on_welcome(c, e):
    out("welcome", e.target)
    c.join("#lobby")


def on_namreply(c, e):
    out("names", e.arguments[1], sorted(e.arguments[2].split()))


def on_join(c, e):
    out("join", nick(e), e.target)
    if nick(e) == c.get_nickname():
        c.privmsg("#lobby", "hello from python")


def check(c):
    if seen >= {"pubmsg", "action", "privmsg"} and not done:
        done.append(True)
        c.privmsg("#lobby", "got it")
        c.quit("bye")


def on_pubmsg(c, e):
    out("pubmsg", nick(e), e.target, e.arguments[0])
    if e.arguments[0] == "hello from the line":
        seen.add("pubmsg")
    check(c)


def on_action(c, e):
    out("action", nick(e), e.target, e.arguments[0])
    seen.add("action")
    check(c)


def on_privmsg(c, e):
    out("privmsg", nick(e), e.arguments[0])
    seen.add("privmsg")
    check(c)


def on_disconnect(c, e):
    out("disconnect")
    sys.exit(0)


client = irc.client.IRC()
conn = client.server().connect(host, port, "pyirc")
for name, fn in [("welcome", on_welcome), ("namreply", on_namreply), ("join", on_join),
                 ("pubmsg", on_pubmsg), ("action", on_action), ("privmsg", on_privmsg),
                 ("disconnect", on_disconnect)]:
    conn.add_global_handler(name, fn)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    client.process_once(0.2)
out("timeout")
sys.exit(1)
