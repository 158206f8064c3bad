// sp2p for the browser: the ES module web pages import. It loads the
// WebAssembly build of the Go library (dist/sp2p.wasm, with Go's
// dist/wasm_exec.js) and wraps its bridge in the API of sp2p.d.ts.
//
// What lives here, in JavaScript: the IndexedDB stores (the identity file,
// known peers), the BroadcastChannel between tabs, and turning the bridge's
// numbered handles into objects. Everything that touches a key, a token or
// the network runs in Go.

const here = import.meta.url;

/** Every error this API rejects with or throws. */
export class SP2PError extends Error {
  constructor(code, message, detail = "") {
    super(message);
    this.name = "SP2PError";
    this.code = code;
    this.detail = detail;
  }
}

function toError(e) {
  if (e instanceof SP2PError) return e;
  if (e && e.__sp2p_error) return new SP2PError(e.code, e.message, e.detail);
  const text = String((e && e.message) || e);
  return new SP2PError("internal", "something went wrong inside sp2p (please report it): " + text, text);
}

// check throws the error object a synchronous bridge method returns.
function check(v) {
  if (v && v.__sp2p_error) throw toError(v);
  return v;
}

async function call(p) {
  try {
    return await p;
  } catch (e) {
    throw toError(e);
  }
}

// later runs a page's callback. What it throws is reported (rethrown from
// a timer, as an uncaught error) and never reaches Go, which calls these
// callbacks and would end on a JavaScript exception.
function later(f, ...args) {
  if (typeof f !== "function") return;
  try {
    f(...args);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });
  }
}

// ---------------------------------------------------------------------------
// Loading the WebAssembly module. One Go program serves the whole page.

let bridgePromise = null;

function loadScript(url) {
  // wasm_exec.js is a classic script that sets globalThis.Go.
  if (typeof document !== "undefined") {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new SP2PError("internal", `could not load ${url}`, `script ${url} failed to load`));
      document.head.appendChild(s);
    });
  }
  return import(url); // a worker with module support
}

async function loadBridge(wasmURL) {
  if (globalThis.__sp2p_bridge) return globalThis.__sp2p_bridge;
  const url = new URL(wasmURL, here);
  if (typeof globalThis.Go !== "function") {
    await loadScript(new URL("wasm_exec.js", url).href);
  }
  const go = new globalThis.Go();
  const ready = new Promise((resolve) => {
    globalThis.__sp2p_ready = resolve;
  });
  let result;
  const response = fetch(url);
  try {
    result = await WebAssembly.instantiateStreaming(response, go.importObject);
  } catch (e) {
    // A server that does not say application/wasm: compile from bytes.
    const r = await response.catch(() => null);
    if (!r || !r.ok) {
      const why = r ? `HTTP ${r.status}` : String(e);
      throw new SP2PError("internal", `could not load the sp2p WebAssembly module from ${url} (${why})`, why);
    }
    result = await WebAssembly.instantiate(await (await fetch(url)).arrayBuffer(), go.importObject);
  }
  go.run(result.instance).then(() => {
    delete globalThis.__sp2p_bridge;
    bridgePromise = null;
  });
  const bridge = await ready;
  delete globalThis.__sp2p_ready;
  return bridge;
}

// ---------------------------------------------------------------------------
// IndexedDB: the identity file (key "default" of store "identity") and the
// known peers (store "peers", {id, name} by id).

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDB(name) {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => {
    const db = r.result;
    if (!db.objectStoreNames.contains("identity")) db.createObjectStore("identity");
    if (!db.objectStoreNames.contains("peers")) db.createObjectStore("peers", { keyPath: "id" });
  };
  return request(r).catch((e) => {
    throw new SP2PError("internal", "this browser's storage (IndexedDB) is not available: " + e, String(e));
  });
}

function store(db, name, mode) {
  return db.transaction(name, mode).objectStore(name);
}

const idb = {
  get: (db, s, key) => request(store(db, s, "readonly").get(key)),
  all: (db, s) => request(store(db, s, "readonly").getAll()),
  put: (db, s, value, key) => request(key === undefined ? store(db, s, "readwrite").put(value) : store(db, s, "readwrite").put(value, key)),
  add: (db, s, value, key) => request(store(db, s, "readwrite").add(value, key)),
  del: (db, s, key) => request(store(db, s, "readwrite").delete(key)),
};

// ---------------------------------------------------------------------------

const TAB_CHANNEL = "sp2p";
const ANNOUNCE_EVERY_MS = 3000;

/** Loads the WebAssembly module and the identity. */
export async function load(opts = {}) {
  if (!bridgePromise) {
    bridgePromise = loadBridge(opts.wasmURL ?? new URL("./dist/sp2p.wasm", here));
    bridgePromise.catch(() => {
      bridgePromise = null;
    });
  }
  const bridge = await bridgePromise;
  const db = await openDB(opts.database ?? "sp2p");
  const ask = () => (opts.passphrase ? opts.passphrase() : Promise.reject(new Error("no passphrase function was given to load()")));

  let file = await idb.get(db, "identity", "default");
  let info;
  if (!file) {
    info = await call(bridge.identityLoad(null));
    try {
      await idb.add(db, "identity", info.file, "default");
      file = info.file;
    } catch (e) {
      // Another tab made one at the same moment: use that one.
      file = await idb.get(db, "identity", "default");
      if (!file) throw toError(e);
      info = null;
    }
  }
  // The passphrase is asked for once: a wrong one rejects with
  // "bad-passphrase", and the page calls load() again to ask again.
  if (!info) info = await call(bridge.identityLoad(file, ask));
  const idh = info.h;
  delete info.file;
  delete info.h;
  return new SP2P(bridge, db, idh, info, file);
}

function copyBytes(b) {
  return new Uint8Array(b);
}

class SP2P {
  constructor(bridge, db, idh, info, file) {
    this._b = bridge;
    this._idh = idh; // the identity's handle in the bridge
    this._db = db;
    this._info = info;
    this._file = copyBytes(file);
    this.version = bridge.version();
    this.onTabOffer = null;
    this.onTabAnswer = null;
    this._announced = new Map(); // offer token -> {inv, timer}
    this._tabOffers = new Map(); // offer token -> expiry (ms), offers surfaced already
    this._tab = typeof crypto.randomUUID === "function" ? crypto.randomUUID() : String(Math.random()).slice(2);
    if (typeof BroadcastChannel === "function") {
      this._bc = new BroadcastChannel(TAB_CHANNEL);
      this._bc.onmessage = (ev) => this._onChannel(ev.data);
      this._post({ type: "hello" });
    }
  }

  // -- identity

  identity() {
    return { ...this._info };
  }

  async setPassphrase(passphrase) {
    const info = await call(this._b.identitySetPassphrase(this._idh, String(passphrase ?? "")));
    const file = info.file;
    delete info.file;
    delete info.h;
    await idb.put(this._db, "identity", file, "default");
    this._file = copyBytes(file);
    this._info = info;
  }

  exportIdentity() {
    return copyBytes(this._file);
  }

  async importIdentity(file, passphrase) {
    const bytes = copyBytes(file);
    const info = await call(this._b.identityImport(this._idh, bytes, passphrase ?? ""));
    await idb.put(this._db, "identity", bytes, "default");
    this._file = bytes;
    this._info = info;
    return { ...info };
  }

  // -- known peers

  async _peer(p) {
    const rec = await idb.get(this._db, "peers", p.id).catch(() => undefined);
    const out = { id: p.id, fingerprint: p.fingerprint, known: !!rec };
    if (rec) out.name = rec.name;
    return out;
  }

  async knownPeers() {
    const recs = await idb.all(this._db, "peers");
    const out = [];
    for (const r of recs) {
      const p = this._b.peerInfo(r.id);
      if (p && p.__sp2p_error) continue; // not an ID: skip what someone put there by hand
      out.push({ id: p.id, fingerprint: p.fingerprint, name: r.name, known: true });
    }
    return out;
  }

  async pinPeer(id, name) {
    const p = check(this._b.peerInfo(String(id)));
    check(this._b.checkName(String(name)));
    for (const r of await idb.all(this._db, "peers")) {
      if (r.name === name && r.id !== p.id) {
        throw new SP2PError(
          "invalid",
          `the name ${name} is already pinned to another ID: if that peer really has a new identity, check it with them, then forget the old one first`,
          "identity: name is already bound to a different ID",
        );
      }
    }
    await idb.put(this._db, "peers", { id: p.id, name: String(name) });
  }

  async forgetPeer(id) {
    const p = this._b.peerInfo(String(id));
    await idb.del(this._db, "peers", p && !p.__sp2p_error ? p.id : String(id));
  }

  // -- invitations

  async createInvitation(opts = {}) {
    const r = await call(
      this._b.inviteCreate(this._idh, { purpose: opts.purpose, lifetime: opts.lifetime, to: opts.to, iceServers: opts.iceServers }),
    );
    let base = opts.linkBase;
    if (base === undefined) base = typeof location !== "undefined" ? location.origin + location.pathname : "";
    return new Invitation(this, r, String(base).split("#")[0]);
  }

  async acceptInvitation(tokenOrLink, opts = {}) {
    const r = await call(this._b.accept(this._idh, String(tokenOrLink), { expect: opts.expect, iceServers: opts.iceServers }));
    return new Acceptance(this, r, await this._peer(r.peer));
  }

  tokenFromLocation() {
    if (typeof location === "undefined" || !location.hash) return null;
    let t = location.hash.slice(1);
    try {
      t = decodeURIComponent(t);
    } catch {
      return null;
    }
    t = t.replace(/\s+/g, "");
    return /^(sp2p:)?[a-z2-7]{20,}$/i.test(t) ? t : null;
  }

  _session(r, peer) {
    return new Session(this, r, peer);
  }

  // -- tabs

  _post(msg) {
    if (!this._bc) return;
    try {
      this._bc.postMessage({ ...msg, from: this._tab });
    } catch {
      // closed channel
    }
  }

  announce(inv) {
    if (!this._bc || !(inv instanceof Invitation) || inv._done || this._announced.has(inv.token)) return;
    const entry = { inv, timer: null };
    this._announced.set(inv.token, entry);
    const send = () => {
      if (inv._done || Date.now() >= inv.expires.getTime()) {
        this._unannounce(inv);
        return;
      }
      this._post({ type: "offer", token: inv.token });
    };
    entry.timer = setInterval(send, ANNOUNCE_EVERY_MS);
    send();
  }

  _unannounce(inv) {
    const e = this._announced.get(inv.token);
    if (e) {
      clearInterval(e.timer);
      this._announced.delete(inv.token);
    }
  }

  async _onChannel(msg) {
    if (!msg || typeof msg !== "object" || msg.from === this._tab || typeof msg.type !== "string") return;
    switch (msg.type) {
      case "hello":
        for (const { inv } of this._announced.values()) {
          if (!inv._done) this._post({ type: "offer", token: inv.token });
        }
        return;
      case "offer": {
        if (typeof msg.token !== "string" || this._announced.has(msg.token)) return;
        const now = Date.now();
        for (const [t, exp] of this._tabOffers) if (exp <= now) this._tabOffers.delete(t);
        if (this._tabOffers.has(msg.token)) return;
        const info = this._b.offerInfo(msg.token); // parsed and signature-checked like a pasted one
        if (!info || info.__sp2p_error || info.expires <= now) return;
        this._tabOffers.set(msg.token, info.expires);
        if (!this.onTabOffer) return;
        const token = msg.token;
        const peer = await this._peer(info.peer);
        const offer = {
          peer,
          purpose: info.purpose,
          expires: new Date(info.expires),
          accept: async () => {
            const acc = await this.acceptInvitation(token);
            this._post({ type: "answer", token: acc.answerToken, offer: token });
            return acc;
          },
        };
        later(this.onTabOffer, offer);
        return;
      }
      case "answer": {
        const e = typeof msg.offer === "string" && this._announced.get(msg.offer);
        if (!e || typeof msg.token !== "string") return;
        const inv = e.inv;
        let pending;
        try {
          pending = await inv.applyAnswer(msg.token); // checked exactly as a pasted answer
        } catch (err) {
          console.debug("sp2p: an answer from another tab was refused:", err);
          return;
        }
        later(this.onTabAnswer, inv, pending);
        return;
      }
    }
  }

  // -- groups

  newGroup() {
    return new Group(this);
  }
}

class Invitation {
  constructor(sp, r, base) {
    this._sp = sp;
    this._h = r.h;
    this._done = false;
    this.token = r.token;
    this.link = base + "#" + r.token;
    this.qrSVG = r.qrSVG;
    this.expires = new Date(r.expires);
    this.purpose = r.purpose;
  }

  async applyAnswer(token) {
    if (this._done) throw new SP2PError("closed", "this invitation was closed or answered already", "sp2p: invitation done");
    const r = await call(this._sp._b.inviteAnswer(this._h, String(token)));
    this._done = true; // one answer per invitation
    this._sp._unannounce(this);
    const peer = await this._sp._peer(r.peer);
    const sp = this._sp;
    return {
      peer,
      connect: async () => sp._session(await call(sp._b.answerConnect(r.h)), peer),
      refuse: () => call(sp._b.answerRefuse(r.h)).then(() => undefined),
    };
  }

  close() {
    this._done = true;
    this._sp._unannounce(this);
    check(this._sp._b.inviteClose(this._h));
  }
}

class Acceptance {
  constructor(sp, r, peer) {
    this._sp = sp;
    this._h = r.h;
    this.answerToken = r.answerToken;
    this.peer = peer;
    this.purpose = r.purpose;
    this.safetyCode = r.safetyCode;
    this.session = call(sp._b.acceptWait(r.h)).then((s) => sp._session(s, peer));
    this.session.catch(() => {}); // a page that never waits is not told of an unhandled rejection
  }

  close() {
    check(this._sp._b.acceptClose(this._h));
  }
}

const MAX_HELD = 1024; // messages held while onMessage is null, before reading stops

class Session {
  constructor(sp, r, peer) {
    this._sp = sp;
    this._b = sp._b;
    this._h = r.h;
    this.peer = peer;
    this.safetyCode = r.safetyCode;
    this.purpose = r.purpose;
    this._onMessage = null;
    this._onClose = null;
    this._held = [];
    this._ended = false;
    this._endErr = undefined; // set when ended, until reported
    this._stats = { rttMs: 0, bytesSent: 0, bytesReceived: 0 };
    this._group = null;
    check(
      this._b.sessionListen(
        this._h,
        (data, text) => this._deliver(data, text),
        (err, stats) => this._end(err, stats),
      ),
    );
  }

  get onMessage() {
    return this._onMessage;
  }

  set onMessage(f) {
    this._onMessage = typeof f === "function" ? f : null;
    if (this._onMessage) {
      const held = this._held;
      this._held = [];
      for (const [d, t] of held) later(this._onMessage, d, t);
    }
    if (!this._ended && !this._group) this._b.sessionFlow(this._h, !!this._onMessage);
  }

  get onClose() {
    return this._onClose;
  }

  set onClose(f) {
    this._onClose = typeof f === "function" ? f : null;
    if (this._ended && this._endErr !== undefined && this._onClose) this._reportEnd();
  }

  _deliver(data, text) {
    if (this._onMessage) {
      later(this._onMessage, data, text);
      return;
    }
    // A message that was on its way when onMessage was unset.
    this._held.push([data, text]);
    if (this._held.length >= MAX_HELD) this._b.sessionFlow(this._h, false);
  }

  _end(err, stats) {
    if (this._ended) return;
    this._ended = true;
    if (stats) this._stats = stats;
    this._endErr = err ? toError(err) : null;
    if (this._onClose) this._reportEnd();
  }

  _reportEnd() {
    const e = this._endErr;
    this._endErr = undefined;
    later(this._onClose, e);
  }

  send(data) {
    if (this._ended) return Promise.reject(new SP2PError("closed", "this session is closed", "session: closed"));
    return call(this._b.sessionSend(this._h, data)).then(() => undefined);
  }

  stats() {
    if (this._ended) return { ...this._stats };
    const s = this._b.sessionStats(this._h);
    if (!s || s.__sp2p_error) return { ...this._stats };
    this._stats = s;
    return { ...s };
  }

  close() {
    if (this._ended) return Promise.resolve();
    return call(this._b.sessionClose(this._h)).then(() => undefined);
  }

  async sendFiles(files, onProgress) {
    const list = Array.from(files);
    const descs = list.map((f) => ({ path: f.webkitRelativePath || f.name, size: f.size }));
    const read = async (i, start, end) => new Uint8Array(await list[i].slice(start, end).arrayBuffer());
    const progress = (done, total, file) => later(onProgress, { done, total, file });
    return await call(this._b.sendFiles(this._h, descs, read, progress));
  }

  async receiveFiles(onOffer, onProgress) {
    const offered = (o, decide) => {
      let decided = false;
      const once = (yes) => {
        if (!decided) {
          decided = true;
          decide(yes);
        }
      };
      later(onOffer, { files: o.files, bytes: o.bytes, accept: () => once(true), decline: () => once(false) });
    };
    const progress = (done, total, file) => later(onProgress, { done, total, file });
    const got = await call(this._b.receiveFiles(this._h, offered, progress));
    return got.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, blob: new Blob(f.parts) }));
  }
}

class Group {
  constructor(sp) {
    this._sp = sp;
    this._b = sp._b;
    this._members = new Map(); // id -> Session
    this.onMessage = null;
    this._h = check(this._b.groupNew((id, data, text) => this._deliver(id, data, text)));
  }

  _deliver(id, data, text) {
    const s = this._members.get(id);
    later(this.onMessage, s ? s.peer : { id, fingerprint: "", known: false }, data, text);
  }

  add(s) {
    if (!(s instanceof Session)) throw new SP2PError("invalid", "add takes a Session", "sp2p: not a session");
    check(this._b.groupAdd(this._h, s._h));
    s._group = this;
    this._members.set(s.peer.id, s);
  }

  broadcast(data) {
    return call(this._b.groupBroadcast(this._h, data)).then(() => undefined);
  }

  get peers() {
    const list = this._b.groupPeers(this._h);
    if (!list || list.__sp2p_error) return [];
    return list.map((p) => {
      const s = this._members.get(p.id);
      return s ? s.peer : { ...p, known: false };
    });
  }

  close() {
    return call(this._b.groupClose(this._h)).then(() => undefined);
  }
}
