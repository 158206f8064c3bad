// sp2p for the browser: the same Go library as the CLI, compiled to
// WebAssembly, behind this small Promise-based API. Tokens, handshake,
// record layer and file transfer are the CLI's, so a page and the CLI
// interoperate.
//
// Secrets: no private key, session key or passphrase is ever handed to
// JavaScript, with two exceptions this API names: exportIdentity() returns
// the identity file (age-encrypted when it has a passphrase), and the
// identity file is kept in IndexedDB (unencrypted when it has no
// passphrase, as `sp2p keygen --no-passphrase` keeps it on disk).

/** Error codes, one per Go sentinel error of the same meaning. */
export type ErrorCode =
  | "malformed"          // invite.ErrMalformed: the token is damaged or altered
  | "bad-signature"      // invite.ErrBadSignature
  | "unsupported-version"// invite.ErrUnsupportedVersion (names both versions)
  | "wrong-kind"         // invite.ErrWrongKind: an answer where an offer belongs, or the reverse
  | "expired"            // invite.ErrExpired
  | "not-yet-valid"      // invite.ErrNotYetValid
  | "wrong-recipient"    // invite.ErrWrongRecipient
  | "unexpected-peer"    // invite.ErrUnexpectedPeer
  | "unknown-offer"      // invite.ErrUnknownOffer: an answer to another invitation
  | "already-used"       // invite.ErrAlreadyUsed
  | "replayed"           // invite.ErrReplayed
  | "limit"              // invite.ErrLimit / a size limit
  | "wrong-purpose"      // the token is for another use (chat vs files)
  | "connect-failed"     // session.ErrConnectFailed (no path between the peers)
  | "handshake-failed"   // session.ErrHandshakeFailed / ErrKeyConfirmation
  | "refused"            // session.ErrRefused: the inviter refused
  | "peer-gave-up"       // session.ErrPeerGaveUp
  | "peer-closed"        // session.ErrPeerClosed
  | "peer-lost"          // session.ErrPeerLost (heartbeat)
  | "closed"             // session.ErrClosed: used after close()
  | "bad-passphrase"     // the identity file's passphrase is wrong
  | "declined"           // transfer.ErrDeclined
  | "integrity"          // transfer.ErrIntegrity
  | "transfer-failed"    // any other transfer error
  | "invalid"            // an argument is not valid: an ID that does not parse, a peer name, a lifetime out of range, a name pinned to another ID
  | "internal";          // a bug: please report it

/** Every error this API rejects with or throws. */
export class SP2PError extends Error {
  readonly code: ErrorCode;
  /** The Go error text, one line, with no secret in it. */
  readonly detail: string;
}

export interface IdentityInfo {
  /** The public ID, "sp2p1…" (bech32m). */
  id: string;
  /** The fingerprint people compare, e.g. "3F2A 91C0 …". */
  fingerprint: string;
  /** Whether the stored identity file is passphrase-protected. */
  protected: boolean;
}

export interface PeerInfo {
  id: string;
  fingerprint: string;
  /** The name this browser pinned the peer under, if it is a known peer. */
  name?: string;
  known: boolean;
}

/** What a token is for: a chat (messages), or files the inviter sends. */
export type Purpose = "chat" | "files";

export interface InvitationOptions {
  purpose?: Purpose;          // default "chat"
  /** Lifetime in seconds, 10 … 86400; default 300. */
  lifetime?: number;
  /** Only this ID may answer. */
  to?: string;
  iceServers?: RTCIceServer[];
  /** Base of the link; default location.origin + location.pathname. */
  linkBase?: string;
}

export interface Invitation {
  token: string;
  /** linkBase + "#" + token: opening it accepts the invitation. */
  link: string;
  /** The token as a QR code (SVG markup, error correction M). */
  qrSVG: string;
  expires: Date;
  purpose: Purpose;
  /**
   * Reads an answer token (pasted) and returns who answered. A bad line
   * rejects with a clear SP2PError and the invitation stays open, so the
   * caller can ask again until it expires.
   */
  applyAnswer(token: string): Promise<PendingAnswer>;
  /** Cancels the invitation; an invitee that already answered is told. */
  close(): void;
}

export interface PendingAnswer {
  peer: PeerInfo;
  /** Connects (the person said yes). */
  connect(): Promise<Session>;
  /** Refuses: the invitee is told at once. */
  refuse(): Promise<void>;
}

export interface Acceptance {
  /** The answer token to send back to the inviter. */
  answerToken: string;
  peer: PeerInfo;
  purpose: Purpose;
  safetyCode: string;
  /** Resolves when the inviter applied the answer and the session is open. */
  session: Promise<Session>;
  close(): void;
}

export interface AcceptOptions {
  /** Accept only an invitation from this ID. */
  expect?: string;
  iceServers?: RTCIceServer[];
}

export interface FileOffer {
  files: { path: string; size: number }[];
  bytes: number;
  accept(): void;
  decline(): void;
}

export interface Progress { done: number; total: number; file: string }

export interface ReceivedFile {
  path: string;
  size: number;
  sha256: string; // hex, checked
  blob: Blob;
}

export interface Session {
  readonly peer: PeerInfo;
  readonly safetyCode: string;
  readonly purpose: Purpose;
  /** Sends one message (string as UTF-8, or bytes); waits for backpressure. Not on a session for files ("wrong-purpose"). */
  send(data: string | Uint8Array): Promise<void>;
  /**
   * Messages are read only while this is set: until then they wait (and
   * the peer is held back), so none is lost between `await` and setting it.
   * A session for files has no messages (its stream carries the transfer).
   */
  onMessage: ((data: Uint8Array, text: string | null) => void) | null;
  /** Called once; err is null for a clean close by either side. */
  onClose: ((err: SP2PError | null) => void) | null;
  /** Sends files (purpose "files", inviter side). */
  sendFiles(files: File[], onProgress?: (p: Progress) => void): Promise<{ files: number; bytes: number }>;
  /** Receives files (purpose "files", invitee side). */
  receiveFiles(onOffer: (o: FileOffer) => void, onProgress?: (p: Progress) => void): Promise<ReceivedFile[]>;
  stats(): { rttMs: number; bytesSent: number; bytesReceived: number };
  close(): Promise<void>;
}

export interface Group {
  add(s: Session): void;
  /** Sends to every peer; a slow peer does not hold up the others. */
  broadcast(data: string | Uint8Array): Promise<void>;
  readonly peers: PeerInfo[];
  onMessage: ((from: PeerInfo, data: Uint8Array, text: string | null) => void) | null;
  close(): Promise<void>;
}

/**
 * A same-origin tab announcing an invitation on BroadcastChannel "sp2p".
 * Tabs of one origin share IndexedDB, so with the same `database` they
 * share one identity too (the peer is then yourself).
 */
export interface TabOffer {
  peer: PeerInfo;
  purpose: Purpose;
  expires: Date;
  /** Answers it over the channel; the inviting tab sees a PendingAnswer. */
  accept(): Promise<Acceptance>;
}

export interface SP2P {
  readonly version: string;
  /** The identity in use (loaded from IndexedDB or generated on first use). */
  identity(): IdentityInfo;
  /** Sets, changes or removes (empty string) the passphrase of the stored identity. */
  setPassphrase(passphrase: string): Promise<void>;
  /** The identity file, as `sp2p keygen` writes it (for the CLI). */
  exportIdentity(): Uint8Array;
  /** Replaces the identity with an identity file from the CLI. */
  importIdentity(file: Uint8Array, passphrase?: string): Promise<IdentityInfo>;

  knownPeers(): Promise<PeerInfo[]>;
  pinPeer(id: string, name: string): Promise<void>;
  forgetPeer(id: string): Promise<void>;

  createInvitation(opts?: InvitationOptions): Promise<Invitation>;
  /** Accepts a token, a link whose fragment holds one, or "SP2P:…" text. */
  acceptInvitation(tokenOrLink: string, opts?: AcceptOptions): Promise<Acceptance>;
  /** The token in location.hash, if any (for "open a link to accept"). */
  tokenFromLocation(): string | null;

  /** Same-origin tab discovery over BroadcastChannel. */
  announce(inv: Invitation): void;
  onTabOffer: ((o: TabOffer) => void) | null;
  /** Called on the inviting tab when another tab answered over the channel. */
  onTabAnswer: ((inv: Invitation, p: PendingAnswer) => void) | null;

  newGroup(): Group;
}

export interface LoadOptions {
  /** Where sp2p.wasm is (wasm_exec.js is loaded from beside it); default: dist/sp2p.wasm next to this module. */
  wasmURL?: string | URL;
  /**
   * Asked for the stored identity's passphrase when it has one, once per
   * load(): a wrong one rejects with "bad-passphrase" (call load() again).
   */
  passphrase?: () => Promise<string>;
  /** IndexedDB database name; default "sp2p". */
  database?: string;
}

/** Loads the WebAssembly module and the identity. */
export function load(opts?: LoadOptions): Promise<SP2P>;
