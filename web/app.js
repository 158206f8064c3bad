// The sp2p page: invite, accept, chat and send files with the sp2p API
// (./sp2p.js). It guides a person the way the CLI does: who is on the
// other side, a question before connecting, the safety code to compare,
// and errors in plain words.
//
// Rule for this file: text that comes from a peer or a token (IDs, names,
// messages, file names, error details) is only ever put into the page with
// textContent or as an attribute value, never as markup.

const $ = (id) => document.getElementById(id);

/** Creates an element with text (never markup) and attributes. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function show(id, visible = true) {
  $(id).hidden = !visible;
}

// ---------- status and errors ----------

function setStatus(text) {
  $("status").textContent = text;
}

/** Shows a problem: a sentence for the person, and the library's detail below it. */
function showError(message, detail) {
  const box = $("error");
  box.replaceChildren(el("p", { text: message }));
  if (detail && detail !== message) box.append(el("p", { class: "detail", text: "Detail: " + detail }));
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const shortID = (id) => (id.length > 16 ? id.slice(0, 16) + "…" : id);

function humanBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = "KMGTPE";
  let i = -1;
  do {
    n /= 1024;
    i++;
  } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(1)} ${units[i]}iB`;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** Whether text could be a token that was damaged (as the CLI judges it). */
function looksLikeToken(text) {
  const t = text.replace(/\s+/g, "").toUpperCase();
  return t.length >= 110 || t.startsWith("SP2P:") || t.startsWith("HTTP");
}

/** Why an invitation cannot be accepted, for the invitee. */
function offerProblem(err, text) {
  switch (err.code) {
    case "malformed":
    case "bad-signature":
    case "limit":
      if (!looksLikeToken(text)) return "That is not an invitation token (a token begins with SP2P:, or paste the whole link).";
      return "The invitation token is damaged or altered (a character changed, lost or added on the way): copy it again in full.";
    case "unsupported-version":
      return "This invitation was made by another version of sp2p, which this page cannot read.";
    case "wrong-kind":
      return "That is an answer token, not an invitation: paste the invitation token (or link) you were sent.";
    case "expired":
      return "This invitation has expired: ask the inviter for a new one.";
    case "not-yet-valid":
      return "This invitation was made in the future: check the clocks on both devices.";
    case "wrong-recipient":
      return "This invitation is for someone else: it names another ID than yours.";
    case "unexpected-peer":
      return "This invitation is not from the person you expected.";
    case "already-used":
    case "replayed":
      return "This invitation was used already: each invitation connects once. Ask for a new one.";
    case "wrong-purpose":
      return "This token is for another use of sp2p than this page offers.";
  }
  return sessionProblem(err);
}

/** Why a pasted answer is refused, for the inviter, who goes on waiting. */
function answerProblem(err, text) {
  switch (err.code) {
    case "malformed":
    case "bad-signature":
    case "limit":
    case "unsupported-version":
      if (!looksLikeToken(text)) return "That is not an answer token (a token begins with SP2P:).";
      if (err.code === "unsupported-version") return "That answer was made by another version of sp2p, which this page cannot read.";
      return "The answer token is damaged or altered (a character changed, lost or added on the way): ask for it again and copy it in full.";
    case "wrong-kind":
      return "That is an invitation (offer) token, not an answer: paste the answer token the invitee sent back.";
    case "unknown-offer":
      return "That answer is for another invitation (an older one?): the invitee must accept the token of this one.";
    case "already-used":
    case "replayed":
      return "That answer was used already: each answer connects once.";
    case "wrong-recipient":
    case "unexpected-peer":
      return "That answer comes from someone this invitation is not for.";
    case "not-yet-valid":
      return "That answer was made in the future: check the clocks on both devices.";
    case "wrong-purpose":
      return "That answer is for another kind of invitation (chat or files).";
  }
  return "That answer cannot be used: " + (err.message || String(err));
}

/** What ended or broke a session or a transfer, in plain words. */
function sessionProblem(err) {
  switch (err && err.code) {
    case "connect-failed":
      return "No connection could be made: the networks between you block a direct path. On one local network this usually works; across the internet, a STUN or TURN server may be needed.";
    case "handshake-failed":
      return "The secure handshake failed: the tokens may have been altered on the way. Do not retry over the same channel; compare fingerprints with your peer by phone or in person.";
    case "refused":
      return "The inviter refused the connection (they declined your answer).";
    case "peer-gave-up":
      return "The inviter gave up before connecting.";
    case "peer-closed":
      return "Your peer closed the session.";
    case "peer-lost":
      return "The connection to your peer was lost: no reply for a while (network down, or the page closed).";
    case "closed":
      return "The session is closed.";
    case "declined":
      return "The files were declined: nothing was sent.";
    case "integrity":
      return "A file arrived damaged (its SHA-256 did not match what was sent) and was thrown away.";
    case "transfer-failed":
      return "The file transfer failed.";
    case "bad-passphrase":
      return "Wrong passphrase.";
    case "expired":
      return "The invitation expired.";
    case "internal":
      return "Something went wrong inside sp2p (a bug; please report it).";
  }
  return (err && err.message) || String(err);
}

function reportError(message, err) {
  showError(message, err && (err.detail || err.message));
}

// ---------- state ----------

let sp2p = null;

const state = {
  inv: null, // the open Invitation (inviter)
  pending: null, // PendingAnswer waiting for connect/refuse (inviter)
  acc: null, // Acceptance (invitee)
  session: null,
  ended: false,
  files: [], // what to send
  countdown: 0,
  qrURL: null,
  objectURLs: [],
  doneText: "", // what a finished transfer did, for the status line
  leaving: false, // this side closed the session
};

/** Runs fn with button disabled, so a double click does nothing twice. */
async function busy(button, fn) {
  if (button.disabled) return;
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
  }
}

function panels(...visible) {
  for (const id of ["start", "invite-panel", "confirm-panel", "accept-panel", "session-panel", "after-panel"]) {
    show(id, visible.includes(id));
  }
}

function resetToStart() {
  clearInterval(state.countdown);
  if (state.inv) state.inv.close();
  if (state.acc && !state.session) state.acc.close();
  if (state.qrURL) URL.revokeObjectURL(state.qrURL);
  for (const u of state.objectURLs) URL.revokeObjectURL(u);
  Object.assign(state, { inv: null, pending: null, acc: null, session: null, ended: false, qrURL: null, objectURLs: [], doneText: "", leaving: false });
  $("answer-input").value = "";
  $("accept-input").value = "";
  $("messages").replaceChildren();
  $("transfers").replaceChildren();
  $("file-offer").hidden = true;
  $("answer-form").hidden = false;
  panels("start");
}

// ---------- identity ----------

function showIdentity() {
  const me = sp2p.identity();
  $("identity-id").textContent = me.id;
  $("identity-fingerprint").textContent = me.fingerprint;
  $("identity-protection").textContent = me.protected
    ? "Protected by a passphrase in this browser."
    : "Not protected by a passphrase: anyone who uses this browser profile can use your identity. You can set one below.";
}

/** Lists the pinned peers, each with a button to forget it. */
async function showKnownPeers() {
  const ul = $("known-peers");
  let peers;
  try {
    peers = await sp2p.knownPeers();
  } catch (err) {
    ul.replaceChildren(el("li", { class: "problem", text: "Could not read the known peers: " + sessionProblem(err) }));
    return;
  }
  ul.replaceChildren();
  if (peers.length === 0) ul.append(el("li", { class: "note", text: "None yet: after a session with someone new, you can pin them." }));
  for (const p of peers) {
    const forget = el("button", { type: "button", text: "Forget" });
    forget.setAttribute("aria-label", "Forget " + (p.name || p.id));
    forget.addEventListener("click", async () => {
      if (!confirm(`Forget ${p.name || "this peer"} (${shortID(p.id)})? Next time they are a new peer.`)) return;
      try {
        await sp2p.forgetPeer(p.id);
        setStatus(`Forgot ${p.name || shortID(p.id)}.`);
      } catch (err) {
        reportError("Could not forget the peer.", err);
      }
      showKnownPeers();
    });
    ul.append(el("li", { class: "known-peer" }, el("strong", { text: p.name || "(no name)" }), " ", el("code", { class: "id", text: p.id }), " ", forget));
  }
}

/** Asks for the identity's passphrase in a dialog; resolves with what was typed. */
function askPassphrase(text) {
  const dialog = $("passphrase-dialog");
  const input = $("passphrase-dialog-input");
  $("passphrase-dialog-text").textContent = text || "Your identity in this browser is protected by a passphrase.";
  $("passphrase-dialog-text").classList.toggle("problem", !!text);
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const v = input.value;
        input.value = "";
        resolve(v);
      },
      { once: true },
    );
    dialog.showModal();
    input.focus();
  });
}

function download(bytes, name, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function setupIdentityForms() {
  $("export-button").addEventListener("click", () => {
    clearError();
    try {
      download(sp2p.exportIdentity(), "sp2p-identity");
      const me = sp2p.identity();
      setStatus(
        me.protected
          ? "Identity file exported as sp2p-identity (encrypted with your passphrase)."
          : "Identity file exported as sp2p-identity. It is not encrypted: keep it private, it is your identity.",
      );
    } catch (err) {
      reportError("Could not export the identity.", err);
    }
  });

  $("passphrase-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearError();
    const a = $("passphrase-new").value;
    const b = $("passphrase-repeat").value;
    if (a !== b) {
      showError("The two passphrases differ: type the same one twice.");
      $("passphrase-repeat").focus();
      return;
    }
    if (a === "" && !confirm("Remove the passphrase? Your identity is then kept unencrypted in this browser.")) return;
    busy($("passphrase-button"), async () => {
      try {
        await sp2p.setPassphrase(a);
        $("passphrase-new").value = $("passphrase-repeat").value = "";
        showIdentity();
        setStatus(a === "" ? "Passphrase removed." : "Passphrase set: you will be asked for it when the page opens.");
      } catch (err) {
        reportError("Could not set the passphrase.", err);
      }
    });
  });

  $("import-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearError();
    const file = $("import-file").files[0];
    if (!file) {
      showError("Choose the identity file to import first.");
      $("import-file").focus();
      return;
    }
    if (!confirm("Replace the identity of this browser with the one in " + file.name + "? The current one is lost unless you exported it.")) return;
    busy($("import-button"), async () => {
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const pass = $("import-passphrase").value;
        await sp2p.importIdentity(bytes, pass || undefined);
        $("import-passphrase").value = "";
        $("import-file").value = "";
        showIdentity();
        showKnownPeers();
        setStatus("Identity imported: you are now " + shortID(sp2p.identity().id) + ".");
      } catch (err) {
        if (err.code === "bad-passphrase") showError("Wrong passphrase for that identity file.", err.detail);
        else reportError("Could not import that identity file (is it one that sp2p keygen wrote?).", err);
      }
    });
  });
}

// ---------- peers ----------

/** Says whether peer is known, and under which name. */
function peerStatus(p) {
  const e = $(p.target);
  e.replaceChildren();
  e.classList.toggle("known", p.peer.known);
  e.classList.toggle("unknown", !p.peer.known);
  if (p.peer.id === sp2p.identity().id) {
    e.append(el("strong", { text: "It is you" }), " — your own identity (another tab of this browser, or a device you imported it into).");
  } else if (p.peer.known) {
    e.append("Known peer: ", el("strong", { text: p.peer.name || "pinned" }));
  } else {
    e.append(el("strong", { text: "New peer" }), " — not in your known peers. If you know them, compare the fingerprint with them.");
  }
}

function showPeer(prefix, peer) {
  $(prefix + "-id").textContent = peer.id;
  $(prefix + "-fingerprint").textContent = peer.fingerprint;
  peerStatus({ target: prefix + "-known", peer });
}

// ---------- invite (inviter) ----------

function purpose() {
  return $("purpose-files").checked ? "files" : "chat";
}

function setFiles(list) {
  state.files = Array.from(list);
  const ul = $("files-chosen");
  ul.replaceChildren();
  let total = 0;
  for (const f of state.files) {
    total += f.size;
    ul.append(el("li", { text: `${f.name} (${humanBytes(f.size)})` }));
  }
  if (state.files.length > 1) ul.append(el("li", { class: "total", text: `${plural(state.files.length, "file", "files")}, ${humanBytes(total)} in all` }));
}

function updatePurpose() {
  show("files-pick", purpose() === "files");
  $("invite-button").textContent = purpose() === "files" ? "Create invitation to send the files" : "Create invitation";
}

async function createInvitation() {
  clearError();
  const p = purpose();
  if (p === "files" && state.files.length === 0) {
    showError("Choose the files to send first (or drop them onto the page).");
    $("file-input").focus();
    return;
  }
  setStatus("Creating the invitation (finding this device's network addresses)…");
  let inv;
  try {
    inv = await sp2p.createInvitation({ purpose: p });
  } catch (err) {
    setStatus("Ready.");
    if (err.code === "wrong-purpose" && p === "files") {
      showError("Sending files from the browser is not in this build of sp2p yet: choose Chat, or send the files with the CLI (sp2p send).", err.detail);
    } else {
      reportError("Could not create the invitation: " + sessionProblem(err), err);
    }
    return;
  }
  state.inv = inv;
  try {
    sp2p.announce(inv);
  } catch (err) {
    console.warn("sp2p: announcing to other tabs:", err);
  }
  $("invite-purpose").textContent =
    p === "files"
      ? `To send ${plural(state.files.length, "file", "files")} (${humanBytes(state.files.reduce((n, f) => n + f.size, 0))}). Send this to the person who should receive them:`
      : "For a chat. Send this to the person you invite:";
  $("offer-token").textContent = inv.token;
  $("offer-link").textContent = inv.link;
  $("offer-link").href = inv.link;
  state.qrURL = URL.createObjectURL(new Blob([inv.qrSVG], { type: "image/svg+xml" }));
  $("offer-qr").src = state.qrURL;
  $("answer-form").hidden = false;
  $("answer-input").disabled = false;
  $("answer-button").disabled = false;
  panels("invite-panel");
  tickCountdown();
  state.countdown = setInterval(tickCountdown, 1000);
  waitingForAnswer();
  $("copy-offer-token").focus();
}

function waitingForAnswer(again = false) {
  setStatus(`${again ? "Still waiting" : "Waiting"} for the answer token (paste it below), until ${clock(state.inv.expires)}.`);
}

function tickCountdown() {
  const inv = state.inv;
  if (!inv) return;
  const left = Math.max(0, Math.round((inv.expires - Date.now()) / 1000));
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, "0");
  $("offer-expiry").textContent = left > 0 ? `Expires in ${m}:${s} (at ${clock(inv.expires)}).` : `Expired at ${clock(inv.expires)}.`;
  $("offer-expiry").classList.toggle("soon", left > 0 && left <= 30);
  if (left === 0 && !state.pending) invitationExpired();
}

function invitationExpired() {
  clearInterval(state.countdown);
  const at = clock(state.inv.expires);
  state.inv.close();
  state.inv = null;
  panels("start");
  setStatus(`The invitation expired at ${at} without an answer.`);
  showError("The invitation expired without a usable answer: create a new one.");
}

async function applyAnswer() {
  const inv = state.inv;
  if (!inv || state.pending) return;
  const text = $("answer-input").value.trim();
  if (!text) {
    showError("Paste the answer token the invitee sent back first.");
    $("answer-input").focus();
    return;
  }
  clearError();
  let p;
  try {
    p = await inv.applyAnswer(text);
  } catch (err) {
    if (err.code === "expired") {
      invitationExpired();
      return;
    }
    showError(answerProblem(err, text), err.detail);
    $("answer-input").select();
    waitingForAnswer(true);
    return;
  }
  if (state.inv !== inv) return; // cancelled meanwhile
  askConnect(p, "");
}

/** Shows who answered and asks to connect or refuse. */
function askConnect(p, how) {
  state.pending = p;
  clearInterval(state.countdown);
  clearError();
  showPeer("answerer", p.peer);
  $("confirm-title").textContent = how ? "Answered from " + how + " by" : "Answered by";
  panels("confirm-panel");
  setStatus(`Answered by ${p.peer.known ? p.peer.name : "a new peer"} (${shortID(p.peer.id)}). Connect?`);
  $("connect-button").focus();
}

async function connect() {
  const p = state.pending;
  if (!p) return;
  setStatus("Connecting…");
  $("refuse-button").disabled = true;
  try {
    const s = await p.connect();
    startSession(s, "inviter");
  } catch (err) {
    if (state.inv && Date.now() >= state.inv.expires) {
      reportError("Could not connect: the invitation expired while the question was open. Create a new one.", err);
    } else {
      reportError("Could not connect: " + sessionProblem(err), err);
    }
    endWithout(p.peer, "The connection did not open.");
  } finally {
    $("refuse-button").disabled = false;
  }
}

async function refuse() {
  const p = state.pending;
  if (!p) return;
  setStatus("Telling the answerer that you do not connect…");
  try {
    await p.refuse();
    endWithout(null, "You refused the connection; the answerer was told.");
  } catch (err) {
    endWithout(null, "You refused the connection; the answerer could not be told (they wait until the invitation expires).");
  }
}

/** Ends an invitation or acceptance that never became a session. */
function endWithout(peer, text) {
  if (state.inv) state.inv.close();
  state.inv = null;
  state.pending = null;
  panels("after-panel");
  $("after-title").textContent = "Not connected";
  $("after-reason").textContent = text;
  $("pin-form").hidden = true;
  setStatus(text);
  $("again-button").focus();
}

// ---------- accept (invitee) ----------

const purposeText = (p) => (p === "files" ? "Receiving files from them" : "A chat");

async function startAccept(text) {
  text = text.trim();
  clearError();
  if (!text) {
    showError("Paste the invitation token or link first.");
    $("accept-input").focus();
    return;
  }
  if (state.session && state.ended) resetToStart();
  if (state.inv || state.acc || state.session) {
    showError("Finish or cancel what is open first (an invitation, or a session), then accept this one.");
    return;
  }
  setStatus("Checking the invitation…");
  let acc;
  try {
    acc = await sp2p.acceptInvitation(text);
  } catch (err) {
    setStatus("Ready: invite someone, or accept an invitation.");
    showError(offerProblem(err, text), err.detail);
    $("accept-input").focus();
    return;
  }
  state.acc = acc;
  showPeer("inviter", acc.peer);
  $("inviter-purpose").textContent = purposeText(acc.purpose);
  $("answer-token").textContent = acc.answerToken;
  show("accept-question", true);
  show("answer-out", false);
  panels("accept-panel");
  setStatus(`Invitation from ${acc.peer.known ? acc.peer.name : "a new peer"} (${shortID(acc.peer.id)}). Accept it?`);
  $("accept-confirm-button").focus();
}

function confirmAccept() {
  const acc = state.acc;
  if (!acc) return;
  show("accept-question", false);
  show("answer-out", true);
  setStatus("Send the answer token back to the inviter; waiting for them to connect…");
  $("copy-answer-token").focus();
  waitForSession(acc);
}

async function waitForSession(acc) {
  try {
    const s = await acc.session;
    if (state.acc !== acc) {
      s.close();
      return;
    }
    startSession(s, "invitee");
  } catch (err) {
    if (state.acc !== acc) return; // we left
    state.acc = null;
    reportError(sessionProblem(err), err);
    endWithout(acc.peer, sessionProblem(err));
  }
}

function declineAccept() {
  if (state.acc) state.acc.close();
  state.acc = null;
  panels("start");
  setStatus("Not accepted: nothing was sent to the inviter.");
  $("accept-input").focus();
}

// ---------- other tabs ----------

function addTabOffer(o) {
  const list = $("tab-offers");
  const what = o.purpose === "files" ? "to send you files" : "to chat";
  const who = o.peer.known ? `${o.peer.name} (${shortID(o.peer.id)})` : `ID ${shortID(o.peer.id)}`;
  const li = el("li", { class: "card" });
  const yes = el("button", { type: "button", class: "primary", text: "Connect" });
  const no = el("button", { type: "button", text: "Ignore" });
  li.append(
    el("p", { text: `Another tab (${who}) is inviting you ${what} — connect?` }),
    el("p", { class: "note", text: `Fingerprint ${o.peer.fingerprint}; ${o.peer.known ? "a known peer" : "not in your known peers"}; until ${clock(o.expires)}.` }),
    el("div", { class: "row" }, yes, no),
  );
  const remove = () => {
    li.remove();
    show("tab-offers-section", list.children.length > 0);
  };
  const timer = setTimeout(remove, Math.max(0, o.expires - Date.now()));
  no.addEventListener("click", () => {
    clearTimeout(timer);
    remove();
  });
  yes.addEventListener("click", () =>
    busy(yes, async () => {
      if (state.session && state.ended) resetToStart();
      if (state.inv || state.acc || state.session) {
        showError("Finish or cancel what is open first (an invitation, or a session).");
        return;
      }
      clearError();
      setStatus("Answering the other tab…");
      try {
        const acc = await o.accept();
        clearTimeout(timer);
        remove();
        state.acc = acc;
        showPeer("inviter", acc.peer);
        $("inviter-purpose").textContent = purposeText(acc.purpose);
        $("answer-token").textContent = acc.answerToken;
        show("accept-question", false);
        show("answer-out", true);
        panels("accept-panel");
        setStatus("Answered the other tab; waiting for it to connect…");
        waitForSession(acc);
      } catch (err) {
        setStatus("Ready.");
        showError(offerProblem(err, ""), err.detail);
      }
    }),
  );
  list.append(li);
  show("tab-offers-section", true);
}

function onTabAnswer(inv, p) {
  if (!state.inv || (inv !== state.inv && inv.token !== state.inv.token) || state.pending) {
    p.refuse().catch(() => {});
    return;
  }
  askConnect(p, "another tab");
}

// ---------- session ----------

function startSession(s, role) {
  clearInterval(state.countdown);
  // The invitation did its job; closing it now is not for a session.
  state.inv = null;
  state.session = s;
  state.ended = false;
  state.leaving = false;
  state.pending = null;
  clearError();
  const label = s.peer.known ? s.peer.name : "peer";
  $("session-title").textContent = "Connected";
  $("safety-code").textContent = s.safetyCode;
  peerStatus({ target: "session-peer", peer: s.peer });
  $("session-peer").prepend(el("code", { class: "id", text: s.peer.id }), el("br"));
  panels("session-panel");
  $("session-panel").classList.remove("ended");
  show("leave-button", true);
  setStatus(`connected to ${s.peer.known ? s.peer.name : "a new peer"} (${shortID(s.peer.id)}). Compare the safety code ${s.safetyCode} with them.`);
  s.onClose = (err) => endSession(err);

  if (s.purpose === "files") {
    show("chat", false);
    if (role === "inviter") sendFiles(s);
    else receiveFiles(s);
    return;
  }
  show("chat", true);
  $("message-input").disabled = false;
  $("send-button").disabled = false;
  s.onMessage = (data, text) => {
    addMessage("theirs", text !== null ? text : `(${humanBytes(data.length)} of binary data)`, label);
  };
  $("message-input").focus();
}

function addMessage(who, text, label) {
  const list = $("messages");
  // The sender is shown by the style sheet from data-from, so that the
  // element's text is exactly the message.
  const li = el("li", { class: who, "data-from": who === "mine" ? "you" : label, text });
  list.append(li);
  list.scrollTop = list.scrollHeight;
  return li;
}

async function sendMessage() {
  const s = state.session;
  const input = $("message-input");
  const text = input.value;
  if (!s || state.ended || text === "") return;
  input.value = "";
  // Shown at once, in the order typed; marked if it could not be sent.
  const li = addMessage("mine", text);
  try {
    await s.send(text);
  } catch (err) {
    li.classList.add("failed");
    li.title = "not sent";
    reportError("The message was not sent: " + sessionProblem(err), err);
  }
}

/** One progress bar with a label, in #transfers. */
function progressRow(title) {
  const bar = el("progress", { max: "1", value: "0" });
  const label = el("span", { class: "progress-label", text: title });
  const row = el("div", { class: "progress-row" }, label, bar);
  $("transfers").append(row);
  return {
    update(p) {
      bar.max = Math.max(1, p.total);
      bar.value = p.done;
      const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
      label.textContent = `${p.file ? p.file + " — " : ""}${pct}% (${humanBytes(p.done)} of ${humanBytes(p.total)})`;
    },
    done(text) {
      bar.value = bar.max;
      label.textContent = text;
    },
  };
}

async function sendFiles(s) {
  const total = state.files.reduce((n, f) => n + f.size, 0);
  const waiting = el("p", { text: `Offering ${plural(state.files.length, "file", "files")} (${humanBytes(total)}); waiting for them to accept…` });
  $("transfers").append(waiting);
  let row = null;
  try {
    const r = await s.sendFiles(state.files, (p) => {
      waiting.remove();
      if (!row) row = progressRow("Sending…");
      row.update(p);
    });
    waiting.remove();
    if (!row) row = progressRow("");
    row.done(`Sent ${plural(r.files, "file", "files")} (${humanBytes(r.bytes)}); the receiver checked each with SHA-256.`);
    state.doneText = `Done: ${plural(r.files, "file", "files")} sent.`;
    setStatus(state.doneText);
    await s.close();
  } catch (err) {
    $("transfers").append(el("p", { class: "problem", text: sessionProblem(err) }));
    if (err.code !== "declined") reportError(sessionProblem(err), err);
    else setStatus("They declined the files: nothing was sent.");
    s.close().catch(() => {});
  }
}

async function receiveFiles(s) {
  let row = null;
  try {
    const files = await s.receiveFiles(
      (offer) => showFileOffer(offer),
      (p) => {
        if (!row) row = progressRow("Receiving…");
        row.update(p);
      },
    );
    if (!row) row = progressRow("");
    const bytes = files.reduce((n, f) => n + f.size, 0);
    row.done(`Received ${plural(files.length, "file", "files")} (${humanBytes(bytes)}), each checked with SHA-256.`);
    const ul = el("ul", { class: "downloads" });
    for (const f of files) {
      const url = URL.createObjectURL(f.blob);
      state.objectURLs.push(url);
      const name = f.path.split("/").pop() || "file";
      const a = el("a", { href: url, download: name, text: `Save ${f.path}` });
      ul.append(el("li", {}, a, el("span", { class: "note", text: ` (${humanBytes(f.size)}, SHA-256 ${f.sha256.slice(0, 16)}…)` })));
    }
    $("transfers").append(ul);
    state.doneText = `Done: ${plural(files.length, "file", "files")} received; save ${files.length === 1 ? "it" : "them"} below.`;
    setStatus(state.doneText);
    const first = ul.querySelector("a");
    if (first) first.focus();
  } catch (err) {
    show("file-offer", false);
    $("transfers").append(el("p", { class: "problem", text: sessionProblem(err) }));
    if (err.code === "declined") setStatus("You declined the files.");
    else reportError(sessionProblem(err), err);
  }
}

function showFileOffer(offer) {
  $("file-offer-summary").textContent = `${plural(offer.files.length, "file", "files")}, ${humanBytes(offer.bytes)} in all, from ${state.session.peer.known ? state.session.peer.name : "a new peer"}:`;
  const ul = $("file-offer-list");
  ul.replaceChildren();
  const sorted = [...offer.files].sort((a, b) => b.size - a.size);
  const shown = sorted.slice(0, 20);
  for (const f of shown) ul.append(el("li", { text: `${f.path} (${humanBytes(f.size)})` }));
  if (sorted.length > shown.length) ul.append(el("li", { text: `… and ${sorted.length - shown.length} more` }));
  $("file-offer-question").textContent = offer.files.length === 1 ? "Receive this file?" : "Receive these files?";
  show("file-offer", true);
  setStatus(`connected; ${plural(offer.files.length, "file", "files")} (${humanBytes(offer.bytes)}) offered to you. Receive ${offer.files.length === 1 ? "it" : "them"}?`);
  const yes = $("file-accept-button");
  const no = $("file-decline-button");
  const answer = (ok) => {
    yes.onclick = no.onclick = null;
    show("file-offer", false);
    if (ok) offer.accept();
    else offer.decline();
  };
  yes.onclick = () => answer(true);
  no.onclick = () => answer(false);
  yes.focus();
}

function endSession(err) {
  const s = state.session;
  if (!s || state.ended) return;
  state.ended = true;
  // A clean close (err null) is either side's: who left is known here.
  const reason = err ? sessionProblem(err) : state.leaving ? "You left the session." : state.doneText ? "The transfer is finished; the session is closed." : "Your peer closed the session.";
  $("session-title").textContent = "Session ended";
  $("message-input").disabled = true;
  $("send-button").disabled = true;
  show("leave-button", false);
  show("after-panel", true);
  $("session-panel").classList.add("ended");
  $("after-title").textContent = "After the session";
  $("after-reason").textContent = reason;
  setStatus((state.doneText ? state.doneText + " " : "") + "Session ended." + (err ? " " + reason : ""));
  if (err) reportError(reason, err);
  const pin = !s.peer.known;
  $("pin-form").hidden = !pin;
  // Received files keep the focus (their links); else the next question.
  if (document.querySelector("#transfers a")) return;
  if (pin) $("pin-name").focus();
  else $("again-button").focus();
}

async function pinPeer() {
  const s = state.session;
  const name = $("pin-name").value.trim();
  if (!s) return;
  if (!name) {
    showError("Type a name to pin the peer under (or leave it).");
    $("pin-name").focus();
    return;
  }
  clearError();
  try {
    await sp2p.pinPeer(s.peer.id, name);
    $("pin-form").hidden = true;
    peerStatus({ target: "session-peer", peer: { id: s.peer.id, fingerprint: s.peer.fingerprint, known: true, name } });
    $("session-peer").prepend(el("code", { class: "id", text: s.peer.id }), el("br"));
    setStatus(`Pinned ${shortID(s.peer.id)} as ${name}: you will see the name next time.`);
    showKnownPeers();
    $("again-button").focus();
  } catch (err) {
    reportError("Could not pin the peer under that name.", err);
  }
}

// ---------- copying ----------

async function copyFrom(button) {
  const src = $(button.dataset.copy);
  const text = src.textContent;
  const old = button.dataset.label || (button.dataset.label = button.textContent);
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(src);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = "Selected: press Ctrl-C (or copy)";
  }
  setTimeout(() => (button.textContent = old), 2500);
}

// ---------- wiring ----------

function wire() {
  setupIdentityForms();
  for (const b of document.querySelectorAll("button[data-copy]")) b.addEventListener("click", () => copyFrom(b));
  for (const r of document.querySelectorAll('input[name="purpose"]')) r.addEventListener("change", updatePurpose);
  $("file-input").addEventListener("change", () => setFiles($("file-input").files));
  $("invite-button").addEventListener("click", () => busy($("invite-button"), createInvitation));
  $("cancel-button").addEventListener("click", () => {
    resetToStart();
    setStatus("Invitation cancelled: its token no longer works.");
  });
  $("answer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy($("answer-button"), applyAnswer);
  });
  $("answer-input").addEventListener("input", (ev) => {
    // A paste is used at once; typing waits for the button.
    if (ev.inputType === "insertFromPaste") busy($("answer-button"), applyAnswer);
  });
  $("connect-button").addEventListener("click", () => busy($("connect-button"), connect));
  $("refuse-button").addEventListener("click", () => busy($("refuse-button"), refuse));

  $("accept-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy($("accept-button"), () => startAccept($("accept-input").value));
  });
  $("accept-input").addEventListener("input", (ev) => {
    if (ev.inputType === "insertFromPaste" && looksLikeToken($("accept-input").value)) {
      busy($("accept-button"), () => startAccept($("accept-input").value));
    }
  });
  $("accept-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("accept-form").requestSubmit();
    }
  });
  $("answer-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("answer-form").requestSubmit();
    }
  });
  $("accept-confirm-button").addEventListener("click", confirmAccept);
  $("accept-cancel-button").addEventListener("click", declineAccept);
  $("accept-leave-button").addEventListener("click", () => {
    resetToStart();
    setStatus("Stopped waiting: the answer token no longer connects.");
  });

  $("message-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendMessage();
  });
  $("leave-button").addEventListener("click", () => {
    if (!state.session) return;
    state.leaving = true;
    state.session.close().catch(() => {});
  });
  $("pin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    pinPeer();
  });
  $("again-button").addEventListener("click", () => {
    resetToStart();
    clearError();
    setStatus("Ready: invite someone, or accept an invitation.");
  });

  // Files dropped anywhere on the page, before inviting: what to send.
  document.addEventListener("dragover", (ev) => {
    if (ev.dataTransfer && Array.from(ev.dataTransfer.types).includes("Files")) {
      ev.preventDefault();
      document.body.classList.add("dragging");
    }
  });
  document.addEventListener("dragleave", (ev) => {
    if (ev.relatedTarget === null) document.body.classList.remove("dragging");
  });
  document.addEventListener("drop", (ev) => {
    document.body.classList.remove("dragging");
    if (!ev.dataTransfer || ev.dataTransfer.files.length === 0) return;
    ev.preventDefault();
    if ($("start").hidden) {
      showError("Files can be dropped only before inviting: cancel the invitation or end the session first.");
      return;
    }
    $("purpose-files").checked = true;
    updatePurpose();
    setFiles(ev.dataTransfer.files);
    setStatus(`${plural(state.files.length, "file", "files")} chosen: now create the invitation.`);
    $("invite-button").focus();
  });

  window.addEventListener("hashchange", takeTokenFromLocation);
  updatePurpose();
}

/** Starts accepting a token that came in the address (an opened link). */
function takeTokenFromLocation() {
  const token = sp2p.tokenFromLocation();
  if (!token) return;
  // The token is single use: a reload must not offer it again.
  history.replaceState(null, "", location.pathname + location.search);
  $("accept-input").value = token;
  startAccept(token);
}

async function main() {
  if (!window.isSecureContext) {
    showError("This page is not in a secure context (https, or http on localhost), so the browser refuses the cryptography and storage it needs. Open it over https, or on this machine with sp2p web (localhost).");
  }
  let mod;
  try {
    mod = await import("./sp2p.js");
  } catch (err) {
    setStatus("sp2p did not load.");
    showError("The sp2p module (sp2p.js) could not be loaded: the page is incomplete on this server.", err.message);
    return;
  }
  // load may ask again itself after a wrong passphrase; so may this loop.
  let asked = 0;
  const passphrase = () => {
    setStatus("Your identity is locked: type its passphrase.");
    return askPassphrase(asked++ > 0 ? "Wrong passphrase: try again." : "");
  };
  for (let attempt = 0; ; attempt++) {
    try {
      sp2p = await mod.load({ passphrase });
      break;
    } catch (err) {
      if (err.code === "bad-passphrase" && attempt < 10) continue;
      setStatus("sp2p did not start.");
      showError(
        err.code === "bad-passphrase"
          ? "Wrong passphrase: reload the page to try again."
          : "sp2p could not start in this browser (is the WebAssembly build dist/sp2p.wasm on the server?).",
        err.detail || err.message,
      );
      return;
    }
  }
  $("version").textContent = sp2p.version;
  showIdentity();
  showKnownPeers();
  sp2p.onTabOffer = addTabOffer;
  sp2p.onTabAnswer = onTabAnswer;
  wire();
  show("identity", true);
  show("start", true);
  setStatus("Ready: invite someone, or accept an invitation.");
  takeTokenFromLocation();
}

main();
