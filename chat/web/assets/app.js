// portside chat in the browser: one WebSocket to /chat/ws, JSON both ways
// (see docs/chat.md, "Browser"). Reconnects with backoff and asks each room
// for what it missed since the last sequence number it saw.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  nick: "", password: "", ws: null, welcomed: false, wanted: false,
  attempt: 0, timer: null, rooms: new Map(), active: "", keepalive: null,
  switchTo: "", // a room asked to join: shown once joined
  sliding: null, // the timer ending the panels' slide
};

function room(name) {
  let r = state.rooms.get(name);
  if (!r) {
    // joinMark: the line saying we joined. The server sends it before the
    // room's replay; replayed (history) messages go above it.
    r = { name, items: [], seqs: new Set(), lastSeq: 0, members: new Set(), prefixes: {}, topic: "", unread: 0, joined: false, joinMark: null };
    state.rooms.set(name, r);
  }
  return r;
}

// setStatus shows the connection's state; the badge is hidden until the
// first attempt. on: true (online), false (offline), null (neither yet).
function setStatus(text, on) {
  const s = $("status");
  s.hidden = false;
  s.textContent = text;
  s.className = "status" + (on === true ? " on" : on === false ? " off" : "");
}

function connect() {
  clearTimeout(state.timer);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/chat/ws");
  state.ws = ws;
  setStatus(state.attempt ? "reconnecting…" : "connecting…", null);
  ws.onopen = () => send({ type: "hello", nick: state.nick, password: state.password });
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    handle(m);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    if (state.welcomed && state.active) {
      addItem(state.active, { kind: "event", time: new Date().toISOString(), text: "Disconnected" + (ev.reason ? " (" + ev.reason + ")" : "") + "; reconnecting…" });
    }
    state.ws = null;
    clearInterval(state.keepalive);
    setStatus("offline", false);
    if (!state.wanted) return;
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s, … up to 15 s.
    const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.5 + Math.random() / 2);
    state.attempt++;
    setStatus("offline — retrying in " + Math.ceil(delay / 1000) + " s", false);
    state.timer = setTimeout(connect, delay);
  };
}

function send(obj) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(obj));
    return true;
  }
  return false;
}

function handle(m) {
  switch (m.type) {
    case "welcome": {
      state.welcomed = true;
      state.attempt = 0;
      state.nick = m.nick;
      $("me").textContent = m.nick;
      $("login").hidden = true;
      $("chat").hidden = false;
      setStatus("online", true);
      clearInterval(state.keepalive);
      state.keepalive = setInterval(() => send({ type: "ping" }), 25000);
      const rooms = [...state.rooms.values()].filter((r) => r.joined);
      if (rooms.length === 0) {
        send({ type: "join", room: "lobby" });
      }
      for (const r of rooms) {
        r.members.clear();
        send({ type: "join", room: r.name, since: r.lastSeq });
      }
      $("say").focus();
      break;
    }
    case "joined": {
      const r = room(m.room);
      r.joined = true;
      r.members = new Set(m.members);
      r.topic = m.topic || "";
      if (state.switchTo === m.room || !state.active || !state.rooms.get(state.active)?.joined) {
        state.switchTo = "";
        show(m.room);
      } else {
        renderSide();
      }
      break;
    }
    case "members": {
      const r = room(m.room);
      r.members = new Set(m.members);
      r.prefixes = m.prefixes || {};
      render();
      break;
    }
    case "kick": {
      const r = room(m.room);
      r.members.delete(m.target);
      delete r.prefixes[m.target];
      addItem(m.room, { kind: "event", time: m.time, text: m.nick + " kicked " + m.target + (m.text ? " (" + m.text + ")" : "") });
      if (m.target === state.nick) {
        r.joined = false;
        if (state.active === m.room) {
          const next = [...state.rooms.values()].find((o) => o.joined);
          if (next) show(next.name);
        }
      }
      renderSide();
      break;
    }
    case "mode":
      addItem(m.room, { kind: "event", time: m.time, text: m.nick + " sets mode " + m.text });
      // Who is an operator or voiced now: asked again rather than worked
      // out here.
      send({ type: "who", room: m.room });
      break;
    case "invite":
      addItem(state.active, { kind: "event", time: m.time, text: m.nick + " invites you to #" + m.room + ": /join " + m.room });
      break;
    case "modes": {
      const lines = [];
      if (m.modes) lines.push("Modes of #" + m.room + ": " + m.modes);
      if (m.listed) {
        lines.push((m.bans || []).length ? "Banned from #" + m.room + ": " + m.bans.map((b) => b.mask + " (by " + b.by + ")").join(", ") : "No one is banned from #" + m.room + ".");
      }
      for (const text of lines) addItem(state.active, { kind: "event", text });
      break;
    }
    case "say": case "action": case "notice":
      if (!m.room) {
        addItem(state.active || "lobby", { kind: "private", ...m });
        break;
      }
      addMessage(m);
      break;
    case "join": {
      const r = room(m.room);
      r.members.add(m.nick);
      const item = { kind: "event", time: m.time, text: m.nick + " joined " + m.room };
      if (m.nick === state.nick) r.joinMark = item;
      addItem(m.room, item);
      break;
    }
    case "part": {
      const r = room(m.room);
      r.members.delete(m.nick);
      addItem(m.room, { kind: "event", time: m.time, text: m.nick + " left " + m.room + (m.text ? " (" + m.text + ")" : "") });
      if (m.nick === state.nick) {
        r.joined = false;
        if (state.active === m.room) {
          // Show another room we are in, if any; else this one stays.
          const next = [...state.rooms.values()].find((o) => o.joined);
          if (next) show(next.name);
        }
        renderSide();
      }
      break;
    }
    case "quit":
      for (const r of state.rooms.values()) {
        if (r.members.delete(m.nick)) addItem(r.name, { kind: "event", time: m.time, text: m.nick + " quit" + (m.text ? " (" + m.text + ")" : "") });
      }
      break;
    case "nick":
      if (m.nick === state.nick) { state.nick = m.text; $("me").textContent = m.text; }
      for (const r of state.rooms.values()) {
        if (r.members.delete(m.nick)) {
          r.members.add(m.text);
          addItem(r.name, { kind: "event", time: m.time, text: m.nick + " is now known as " + m.text });
        }
      }
      break;
    case "topic":
      room(m.room).topic = m.text;
      addItem(m.room, { kind: "event", time: m.time, text: m.nick + " set the topic: " + m.text });
      break;
    case "rooms":
      addItem(state.active, { kind: "event", text: "Rooms: " + (m.rooms || []).map((r) => r.Name + " (" + r.Members + ")").join(", ") });
      break;
    case "error":
      if (!state.welcomed) {
        $("login-error").textContent = m.text;
        if (m.code === "password" || m.code === "nick-in-use" || m.code === "bad-nick") state.wanted = false;
        if (m.code !== "password") { state.ws && state.ws.close(); }
        break;
      }
      if (m.room && m.room === state.switchTo) state.switchTo = "";
      // An error about a room we are not in (a join that failed) is
      // shown where we are.
      addItem(m.room && state.rooms.get(m.room)?.joined ? m.room : state.active, { kind: "error", text: m.text });
      break;
  }
}

// addMessage files a kept message by its sequence number: one seen before
// (a replay after a reconnect) is dropped, one that fills a gap goes in its
// place, and history goes above the line saying we joined.
function addMessage(m) {
  const r = room(m.room);
  if (r.seqs.has(m.seq)) return;
  r.seqs.add(m.seq);
  if (m.nick === state.nick) {
    // One of ours, shown when sent: it now has its number.
    const own = r.items.find((it) => it.own && !it.seq && it.text === m.text);
    if (own) {
      own.seq = m.seq;
      r.lastSeq = Math.max(r.lastSeq, m.seq);
      if (m.room === state.active) renderMessages();
      return;
    }
  }
  let at = r.items.length;
  if (m.history && r.joinMark) {
    const j = r.items.indexOf(r.joinMark);
    if (j >= 0) at = j;
  }
  if (m.seq <= r.lastSeq) {
    const k = r.items.findIndex((it) => it.seq && it.seq > m.seq);
    if (k >= 0) at = Math.min(at, k);
  }
  r.lastSeq = Math.max(r.lastSeq, m.seq);
  addItem(m.room, { kind: m.type, ...m }, at);
}

// addItem puts item in the room called name, at index at (default: last).
function addItem(name, item, at) {
  const r = room(name);
  if (at === undefined || at > r.items.length) at = r.items.length;
  r.items.splice(at, 0, item);
  let cut = 0;
  if (r.items.length > 2000) {
    cut = r.items.length - 2000;
    r.items.splice(0, cut);
  }
  if (name === state.active) {
    const list = $("messages");
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
    for (let i = 0; i < cut && list.firstChild; i++) list.firstChild.remove();
    list.insertBefore(itemElement(item), list.children[at - cut] || null);
    if (stick) list.scrollTop = list.scrollHeight;
  } else if (item.kind !== "event") {
    r.unread++;
  }
  renderSide();
}

function fmtTime(iso) {
  if (!iso) return ["", ""];
  const d = new Date(iso);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const today = new Date().toDateString() === d.toDateString();
  return [today ? hm : d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm, d.toLocaleString()];
}

function itemElement(it) {
  const li = document.createElement("li");
  li.className = it.kind + (it.history ? " history" : "");
  if (it.seq) li.dataset.seq = it.seq;
  const [short, long] = fmtTime(it.time);
  const t = document.createElement("time");
  t.textContent = short;
  t.title = long;
  if (it.time) t.dateTime = it.time;
  li.appendChild(t);
  const text = document.createElement("span");
  text.className = "text";
  if (it.kind === "say" || it.kind === "notice" || (it.kind === "private" && it.type !== "action")) {
    const n = document.createElement("span");
    n.className = "nick";
    n.textContent = it.nick;
    n.style.color = nickColor(it.nick);
    li.appendChild(n);
    text.textContent = it.text;
  } else if (it.kind === "action" || it.type === "action") {
    text.textContent = "* " + it.nick + " " + it.text;
  } else {
    text.textContent = it.text;
  }
  li.appendChild(text);
  return li;
}

function nickColor(n) {
  let h = 0;
  for (const c of n) h = (h * 31 + c.codePointAt(0)) % 360;
  return "hsl(" + h + ", 55%, 38%)";
}

function render() {
  renderSide();
  renderMessages();
}

// show makes the room called name the one shown.
function show(name) {
  state.active = name;
  closePanels();
  render();
}

function renderMessages() {
  const r = state.rooms.get(state.active);
  const list = $("messages");
  list.replaceChildren();
  if (!r) return;
  r.unread = 0;
  for (const it of r.items) list.appendChild(itemElement(it));
  list.scrollTop = list.scrollHeight;
  $("topic").textContent = r.topic ? r.topic : "#" + r.name;
}

function renderSide() {
  const ul = $("rooms");
  ul.replaceChildren();
  for (const r of state.rooms.values()) {
    if (!r.joined) continue;
    const li = document.createElement("li");
    li.textContent = "#" + r.name;
    li.dataset.room = r.name;
    if (r.name === state.active) li.className = "active";
    if (r.unread) {
      const u = document.createElement("span");
      u.className = "unread";
      u.textContent = r.unread;
      li.appendChild(u);
    }
    li.onclick = () => show(r.name);
    ul.appendChild(li);
  }
  // The rooms button (narrow screens) counts what is unread elsewhere.
  const unread = [...state.rooms.values()].reduce((n, o) => n + (o.joined && o.name !== state.active ? o.unread : 0), 0);
  $("unread").textContent = unread;
  $("unread").hidden = unread === 0;
  const r = state.rooms.get(state.active);
  const ml = $("members");
  ml.replaceChildren();
  const names = r ? [...r.members].sort((a, b) => a.localeCompare(b)) : [];
  const amOp = r && r.prefixes[state.nick] === "@";
  for (const n of names) {
    const li = document.createElement("li");
    const p = r.prefixes[n] || "";
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = p + n;
    li.appendChild(name);
    li.dataset.nick = n;
    if (n === state.nick) li.className = "self";
    if (amOp && n !== state.nick) li.appendChild(memberActions(r.name, n, p));
    ml.appendChild(li);
  }
  $("count").textContent = names.length ? "(" + names.length + ")" : "";
  $("members-count").textContent = names.length ? names.length : "";
  if (r) $("topic").textContent = r.topic ? r.topic : "#" + r.name;
}

// memberActions are an operator's buttons on a member's entry: kick, ban
// (and kick), mute (a ban without the kick: they stay, but cannot speak),
// unmute, and op and voice on or off.
function memberActions(roomName, n, prefix) {
  const box = document.createElement("span");
  box.className = "actions";
  const act = (label, title, ...reqs) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.dataset.action = label;
    b.onclick = () => { for (const q of reqs) send(q); };
    box.appendChild(b);
  };
  const mode = (text) => ({ type: "mode", room: roomName, text });
  act("kick", "Take " + n + " out of #" + roomName, { type: "kick", room: roomName, target: n });
  act("ban", "Ban " + n + " and take them out", mode("+b " + n), { type: "kick", room: roomName, target: n, text: "banned" });
  act("mute", n + " stays, but cannot speak", mode("+b " + n));
  act("unmute", n + " may speak again", mode("-b " + n));
  act(prefix === "@" ? "deop" : "op", "Operator of #" + roomName + ": on or off", mode((prefix === "@" ? "-o " : "+o ") + n));
  act(prefix === "+" ? "devoice" : "voice", "May speak when the room is moderated: on or off", mode((prefix === "+" ? "-v " : "+v ") + n));
  return box;
}

function command(line) {
  const [cmd, ...rest] = line.slice(1).split(" ");
  const arg = rest.join(" ");
  switch (cmd.toLowerCase()) {
    case "me": return { type: "action", room: state.active, text: arg };
    case "join": {
      const req = joinRequest(arg);
      if (!req) $("say").value = ""; // a room we are in: shown
      return req;
    }
    case "part": return { type: "part", room: state.active, text: arg };
    case "nick": return { type: "nick", nick: arg };
    case "msg": {
      const [to, ...words] = rest;
      addItem(state.active, { kind: "event", time: new Date().toISOString(), text: "→ " + to + ": " + words.join(" ") });
      return { type: "msg", to, text: words.join(" ") };
    }
    case "rooms": return { type: "rooms" };
    case "op": case "deop": case "voice": case "devoice": {
      const sign = cmd.toLowerCase().startsWith("de") ? "-" : "+";
      return { type: "mode", room: state.active, text: sign + (cmd.toLowerCase().endsWith("op") ? "o " : "v ") + arg };
    }
    case "kick": return { type: "kick", room: state.active, target: rest[0], text: rest.slice(1).join(" ") };
    case "ban": return { type: "mode", room: state.active, text: "+b " + arg };
    case "unban": return { type: "mode", room: state.active, text: "-b " + arg };
    case "mute": return { type: "mode", room: state.active, text: "+m" };
    case "unmute": return { type: "mode", room: state.active, text: "-m" };
    case "invite": return { type: "invite", room: state.active, target: arg };
    case "topic": return { type: "topic", room: state.active, text: arg };
    case "mode": return { type: "mode", room: state.active, text: arg };
    case "quit": state.wanted = false; return { type: "quit", text: arg };
  }
  addItem(state.active, { kind: "error", text: "Unknown command /" + cmd });
  return null;
}

$("login").onsubmit = (e) => {
  e.preventDefault();
  state.nick = $("nick").value.trim();
  state.password = $("password").value;
  $("login-error").textContent = "";
  state.wanted = true;
  state.attempt = 0;
  connect();
};

$("say-form").onsubmit = (e) => {
  e.preventDefault();
  const input = $("say");
  const line = input.value;
  if (!line.trim()) return;
  let req;
  if (line.startsWith("/") && !line.startsWith("//")) {
    req = command(line);
  } else {
    req = { type: "say", room: state.active, text: line.startsWith("//") ? line.slice(1) : line };
  }
  if (!req) return;
  if (!send(req)) {
    addItem(state.active, { kind: "error", text: "Not connected: that was not sent." });
    return;
  }
  input.value = "";
  // Your own messages are not echoed back: show them now; the sequence
  // number is not known, so they are not counted as seen.
  if (req.type === "say" || req.type === "action") {
    addItem(state.active, { kind: req.type, type: req.type, nick: state.nick, text: req.text, time: new Date().toISOString(), own: true });
  }
};

// joinRequest asks to join a room, and to show it once joined; one we are
// in is shown at once.
function joinRequest(arg) {
  const [word, key] = arg.trim().split(/\s+/);
  const name = (word || "").replace(/^#/, "").toLowerCase();
  if (state.rooms.get(name)?.joined) {
    show(name);
    return null;
  }
  state.switchTo = name;
  return key ? { type: "join", room: name, key } : { type: "join", room: name };
}

$("join-form").onsubmit = (e) => {
  e.preventDefault();
  if (!$("join-room").value.trim()) return;
  const req = joinRequest($("join-room").value);
  if (req && !send(req)) addItem(state.active, { kind: "error", text: "Not connected: that was not sent." });
  $("join-room").value = "";
};

// The rooms and members panels: beside the conversation on a wide screen,
// drawers over it on a narrow one, opened by the buttons in the room's bar.
function togglePanel(which) {
  const panel = $(which + "-panel");
  const open = !panel.classList.contains("open");
  slide();
  closePanels();
  if (!open) return;
  panel.classList.add("open");
  $(which + "-toggle").setAttribute("aria-expanded", "true");
  $("scrim").hidden = false;
}

function closePanels() {
  for (const which of ["rooms", "members"]) {
    $(which + "-panel").classList.remove("open");
    $(which + "-toggle").setAttribute("aria-expanded", "false");
  }
  $("scrim").hidden = true;
}

// slide animates the panels' next move, and only that one: a window
// narrowing to a phone's width does not show them sliding away.
function slide() {
  $("chat").classList.add("sliding");
  clearTimeout(state.sliding);
  state.sliding = setTimeout(() => $("chat").classList.remove("sliding"), 400);
}

$("rooms-toggle").onclick = () => togglePanel("rooms");
$("members-toggle").onclick = () => togglePanel("members");
$("scrim").onclick = () => { slide(); closePanels(); };
document.addEventListener("keydown", (e) => { if (e.key === "Escape") { slide(); closePanels(); } });
