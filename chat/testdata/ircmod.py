"""An IRC client built on python3-irc, for portside's moderation tests.

Usage: python3 ircmod.py HOST PORT

It joins #lobby and says hello. When the channel is made moderated (+m) it
tries to speak, and is refused. When it is kicked it joins again; refused
as banned (474), it quits and exits 0. Every event it sees is printed as a
JSON array, one a line, for the test to check.
"""
import json
import sys
import time

import irc.client

host, port = sys.argv[1], int(sys.argv[2])


def nick(e):
    return irc.client.NickMask(str(e.source)).nick


def out(*a):
    print(json.dumps(a), flush=True)


def on_welcome(c, e):
    c.join("#lobby")


def on_namreply(c, e):
    out("names", e.arguments[1], sorted(e.arguments[2].split()))


def on_join(c, e):
    if nick(e) == c.get_nickname():
        out("join", e.target)
        c.privmsg("#lobby", "hello from python")


def on_mode(c, e):
    out("mode", nick(e), e.target, *e.arguments)
    if e.arguments and e.arguments[0] == "+m":
        c.privmsg("#lobby", "am I muted?")


def on_cannotsendtochan(c, e):
    out("cannotsendtochan", *e.arguments)


def on_kick(c, e):
    out("kick", nick(e), e.target, *e.arguments)
    if e.arguments[0] == c.get_nickname():
        c.join("#lobby")


def on_bannedfromchan(c, e):
    out("bannedfromchan", *e.arguments)
    c.quit("banned")


def on_disconnect(c, e):
    out("disconnect")
    sys.exit(0)


client = irc.client.IRC()
conn = client.server().connect(host, port, "pyirc")
for name, fn in [("welcome", on_welcome), ("namreply", on_namreply), ("join", on_join),
                 ("mode", on_mode), ("cannotsendtochan", on_cannotsendtochan), ("kick", on_kick),
                 ("bannedfromchan", on_bannedfromchan), ("disconnect", on_disconnect)]:
    conn.add_global_handler(name, fn)
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    client.process_once(0.2)
out("timeout")
sys.exit(1)
