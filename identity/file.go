package identity

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/sp2p/sp2p/internal/safefile"
)

// Identity file format (SECURITY.md, "Identity file"): a text file of
// "key: value" header lines after a fixed first line, then, for a
// passphrase-protected file, a blank line and an age-armored body.
const (
	fileMagic         = "sp2p-identity v1"
	fileHeaderID      = "public-id"
	fileHeaderProt    = "protection"
	fileHeaderSecret  = "secret-key"
	protPassphrase    = "age-scrypt"
	protNone          = "none (UNENCRYPTED: anyone who can read this file can act as you)"
	protNonePrefix    = "none"
	maxIdentityFile   = 64 << 10
	defaultWorkFactor = 18 // age's default: about a second on a laptop
	// MaxWorkFactor is the largest scrypt work factor (log2 N) that Load
	// accepts and Save writes: scrypt with r = 8 needs 128·8·2^N bytes,
	// so 2^18 is 256 MiB per attempt. A file asking for more is refused
	// before the passphrase is asked for or any key derivation runs.
	MaxWorkFactor     = 18
	maxLoadWorkFactor = MaxWorkFactor
	minSaveWorkFactor = 10
	DefaultFileName   = "identity"
	DefaultPeersName  = "known_peers"
	configDirName     = "sp2p"
	identityEnvVar    = "SP2P_IDENTITY"
)

// Errors of the identity file. Test for them with errors.Is.
var (
	ErrNoIdentity = errors.New("no identity file")
	ErrExists     = errors.New("identity file already exists")
	// ErrPermissions: the file is owned by another user, or group or
	// others can change it or its directory (or read it, for the identity
	// file).
	ErrPermissions     = safefile.ErrUnsafe
	ErrWrongPassphrase = errors.New("wrong passphrase")
	ErrCorruptFile     = errors.New("identity file is corrupt")
	ErrNoPassphrase    = errors.New("no passphrase given")
	ErrWorkFactor      = errors.New("scrypt work factor too large")
	// ErrFileTooLarge is wrapped, with ErrCorruptFile or ErrPeersFile, when
	// a file is refused from its size alone, before it is read.
	ErrFileTooLarge = safefile.ErrTooLarge
)

// Protection says how an identity file protects its private key.
type Protection int

const (
	// Passphrase: the key is encrypted with age under a passphrase (scrypt).
	Passphrase Protection = iota + 1
	// Unprotected: the key is stored in plain text, readable by anyone who
	// can read the file.
	Unprotected
)

func (p Protection) String() string {
	switch p {
	case Passphrase:
		return "passphrase"
	case Unprotected:
		return "none"
	}
	return "unknown"
}

// DefaultPath returns the identity file location: $SP2P_IDENTITY when set,
// otherwise "sp2p/identity" under os.UserConfigDir.
func DefaultPath() (string, error) {
	if p := os.Getenv(identityEnvVar); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("identity: no config directory (set %s or give the identity file's path): %w", identityEnvVar, err)
	}
	return filepath.Join(dir, configDirName, DefaultFileName), nil
}

// PeersPath returns the known-peers file that belongs to the identity file
// at identityPath: "known_peers" in the same directory.
func PeersPath(identityPath string) string {
	return filepath.Join(filepath.Dir(identityPath), DefaultPeersName)
}

// SaveOptions control how [Save] writes an identity file. The zero value
// is not usable on its own: set Passphrase, or InsecureUnencrypted.
type SaveOptions struct {
	// Passphrase encrypts the key with age's scrypt recipient.
	Passphrase []byte
	// InsecureUnencrypted stores the key in plain text (file mode 0600).
	// The file says so in its header.
	InsecureUnencrypted bool
	// Overwrite replaces an existing file. Without it, Save fails with
	// ErrExists and leaves the existing file untouched.
	Overwrite bool
	// ScryptWorkFactor is scrypt's log2(N); 0 means 18 (age's default).
	// Values below 10 are raised to 10; values above MaxWorkFactor are
	// refused (Load would refuse the file).
	ScryptWorkFactor int
}

// Save writes id to path atomically with mode 0600, creating missing parent
// directories with mode 0700. The file's bytes are [Marshal]'s.
func Save(path string, id *Identity, opts SaveOptions) error {
	if err := checkSaveOptions(opts); err != nil {
		return err
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("identity: %w at %s (replacing it would lose the old identity)", ErrExists, path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("identity: creating directory: %w", err)
	}
	data, err := marshal(id, opts)
	if err != nil {
		return err
	}
	defer clear(data)
	if err := safefile.WriteAtomic(path, data, 0o600, opts.Overwrite); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("identity: %w at %s (replacing it would lose the old identity)", ErrExists, path)
		}
		return fmt.Errorf("identity: writing %s: %w", path, err)
	}
	return nil
}

// Marshal returns the bytes of id's identity file, exactly as [Save]
// writes them, for a program that keeps the file somewhere other than a
// file system (a browser's storage). opts.Overwrite does not matter.
// The bytes hold the private key (encrypted under opts.Passphrase, or in
// plain text with InsecureUnencrypted): the caller should clear them
// when done.
func Marshal(id *Identity, opts SaveOptions) ([]byte, error) {
	if err := checkSaveOptions(opts); err != nil {
		return nil, err
	}
	return marshal(id, opts)
}

func checkSaveOptions(opts SaveOptions) error {
	if opts.InsecureUnencrypted == (len(opts.Passphrase) > 0) {
		if opts.InsecureUnencrypted {
			panic("identity: Save with both a passphrase and InsecureUnencrypted")
		}
		return fmt.Errorf("identity: %w (or choose an unencrypted file explicitly)", ErrNoPassphrase)
	}
	return nil
}

func marshal(id *Identity, opts SaveOptions) ([]byte, error) {
	seed := id.seed()
	defer clear(seed)

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s: %s\n", fileMagic, fileHeaderID, id.ID())
	if opts.InsecureUnencrypted {
		fmt.Fprintf(&b, "%s: %s\n%s: %s\n", fileHeaderProt, protNone, fileHeaderSecret, base64.StdEncoding.EncodeToString(seed))
		return b.Bytes(), nil
	}
	fail := func(err error) ([]byte, error) {
		clear(b.Bytes())
		return nil, err
	}
	fmt.Fprintf(&b, "%s: %s\n\n", fileHeaderProt, protPassphrase)
	r, err := age.NewScryptRecipient(string(opts.Passphrase))
	if err != nil {
		return fail(fmt.Errorf("identity: %w", err))
	}
	wf := opts.ScryptWorkFactor
	if wf == 0 {
		wf = defaultWorkFactor
	}
	if wf > MaxWorkFactor {
		return fail(fmt.Errorf("identity: %w: %d, at most %d", ErrWorkFactor, wf, MaxWorkFactor))
	}
	r.SetWorkFactor(max(wf, minSaveWorkFactor))
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return fail(fmt.Errorf("identity: encrypting: %w", err))
	}
	if _, err := w.Write(seed); err != nil {
		return fail(fmt.Errorf("identity: encrypting: %w", err))
	}
	if err := w.Close(); err != nil {
		return fail(fmt.Errorf("identity: encrypting: %w", err))
	}
	if err := aw.Close(); err != nil {
		return fail(fmt.Errorf("identity: encrypting: %w", err))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// fileContents is a parsed identity file.
type fileContents struct {
	id     ID
	prot   Protection
	secret string // base64 seed (Unprotected)
	body   []byte // armored age file (Passphrase)
}

// identityFilePolicy: at most 64 KiB, mode 0600 or stricter, owned by the
// user (or root) in a directory only they can change.
var identityFilePolicy = safefile.Policy{Max: maxIdentityFile, Private: true, Strict: true}

func readIdentityFile(path string) (*fileContents, error) {
	data, err := safefile.ReadFile(path, identityFilePolicy)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("identity: %w at %s", ErrNoIdentity, path)
	case errors.Is(err, safefile.ErrTooLarge):
		return nil, fmt.Errorf("identity: %w: %w", ErrCorruptFile, err)
	case err != nil:
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer clear(data)
	c, err := parseIdentityFile(data)
	if errors.Is(err, ErrWorkFactor) {
		return nil, fmt.Errorf("identity: %s: %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("identity: %w: %s: %w", ErrCorruptFile, path, err)
	}
	return c, nil
}

func parseIdentityFile(data []byte) (*fileContents, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxIdentityFile)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != fileMagic {
		return nil, fmt.Errorf("first line is not %q", fileMagic)
	}
	c := &fileContents{}
	var haveID bool
	line := 1
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			break
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want \"key: value\"", line)
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(key) {
		case fileHeaderID:
			id, err := ParseID(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			c.id, haveID = id, true
		case fileHeaderProt:
			switch {
			case value == protPassphrase:
				c.prot = Passphrase
			case strings.HasPrefix(value, protNonePrefix):
				c.prot = Unprotected
			default:
				return nil, fmt.Errorf("line %d: unknown protection %q", line, value)
			}
		case fileHeaderSecret:
			c.secret = value
		default:
			return nil, fmt.Errorf("line %d: unknown header %q", line, key)
		}
	}
	if !haveID || c.prot == 0 {
		return nil, errors.New("missing public-id or protection header")
	}
	switch c.prot {
	case Unprotected:
		if c.secret == "" {
			return nil, errors.New("missing secret-key header")
		}
	case Passphrase:
		if c.secret != "" {
			return nil, errors.New("a passphrase-protected file has a plain secret-key header")
		}
		var rest bytes.Buffer
		for sc.Scan() {
			rest.Write(sc.Bytes())
			rest.WriteByte('\n')
		}
		c.body = rest.Bytes()
		if len(bytes.TrimSpace(c.body)) == 0 {
			return nil, errors.New("missing the encrypted key")
		}
		wf, err := scryptWorkFactor(c.body)
		if err != nil {
			return nil, err
		}
		if wf > maxLoadWorkFactor {
			return nil, fmt.Errorf("%w: the file asks for 2^%d, which needs %s of memory; at most 2^%d (%s) is accepted",
				ErrWorkFactor, wf, scryptMemory(wf), maxLoadWorkFactor, scryptMemory(maxLoadWorkFactor))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// scryptMemory describes the memory scrypt needs with r = 8 at work
// factor wf (10 or more): 128·r·2^wf bytes = 2^(wf-10) MiB.
func scryptMemory(wf int) string {
	if wf-10 < 40 {
		return fmt.Sprintf("%d MiB", uint64(1)<<(wf-10))
	}
	return fmt.Sprintf("2^%d MiB", wf-10)
}

// scryptWorkFactor reads the work factor from the scrypt stanza of the
// armored age file body (age-encryption.org/v1 header: "-> scrypt SALT
// WF"), without running anything. age checks the rest when it decrypts.
func scryptWorkFactor(body []byte) (int, error) {
	br := bufio.NewReader(io.LimitReader(armor.NewReader(bytes.NewReader(body)), maxIdentityFile))
	line := func() (string, error) {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("encrypted key: truncated age header (%v)", err)
		}
		return strings.TrimSuffix(l, "\n"), nil
	}
	first, err := line()
	if err != nil {
		return 0, err
	}
	if first != "age-encryption.org/v1" {
		return 0, errors.New("encrypted key: not an age v1 file")
	}
	stanza, err := line()
	if err != nil {
		return 0, err
	}
	f := strings.Split(stanza, " ")
	if len(f) != 4 || f[0] != "->" || f[1] != "scrypt" {
		return 0, errors.New("encrypted key: the age file has no scrypt recipient first")
	}
	wf := 0
	for i, c := range f[3] {
		if c < '0' || c > '9' || (i == 0 && c == '0') || i >= 2 {
			return 0, errors.New("encrypted key: invalid scrypt work factor")
		}
		wf = wf*10 + int(c-'0')
	}
	if f[3] == "" {
		return 0, errors.New("encrypted key: invalid scrypt work factor")
	}
	return wf, nil
}

// ReadPublic returns the public ID recorded in the identity file at path and
// how the file protects its key, without asking for the passphrase. The file
// must pass the same permission check as [Load].
func ReadPublic(path string) (ID, Protection, error) {
	c, err := readIdentityFile(path)
	if err != nil {
		return ID{}, 0, err
	}
	return c.id, c.prot, nil
}

// Load reads the identity file at path. For a passphrase-protected file it
// calls passphrase once; passphrase is not called for an unencrypted file.
// A file that group or others can read, that another user owns, or whose
// directory group or others can write is refused with ErrPermissions; a
// scrypt work factor above MaxWorkFactor with ErrWorkFactor, before
// passphrase is called.
func Load(path string, passphrase func() ([]byte, error)) (*Identity, Protection, error) {
	c, err := readIdentityFile(path)
	if err != nil {
		return nil, 0, err
	}
	return c.load(path, passphrase)
}

// Unmarshal reads identity file bytes, as [Marshal] returns them or a
// file [Save] wrote, with [Load]'s checks and limits (at most 64 KiB; a
// scrypt work factor above MaxWorkFactor is refused with ErrWorkFactor
// before passphrase is called). For a passphrase-protected file it calls
// passphrase once; passphrase is not called for an unencrypted file.
func Unmarshal(data []byte, passphrase func() ([]byte, error)) (*Identity, Protection, error) {
	if len(data) > maxIdentityFile {
		return nil, 0, fmt.Errorf("identity: %w: %w: %d bytes, at most %d", ErrCorruptFile, ErrFileTooLarge, len(data), maxIdentityFile)
	}
	c, err := parseIdentityFile(data)
	if errors.Is(err, ErrWorkFactor) {
		return nil, 0, fmt.Errorf("identity: %w", err)
	} else if err != nil {
		return nil, 0, fmt.Errorf("identity: %w: %w", ErrCorruptFile, err)
	}
	return c.load("", passphrase)
}

// load turns parsed file contents into the identity; path, if not empty,
// is named in errors.
func (c *fileContents) load(path string, passphrase func() ([]byte, error)) (*Identity, Protection, error) {
	at, forPath := "", ""
	if path != "" {
		at, forPath = path+": ", " for "+path
	}
	var seed []byte
	var err error
	switch c.prot {
	case Unprotected:
		seed, err = base64.StdEncoding.Strict().DecodeString(c.secret)
		if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %ssecret-key is not valid base64", ErrCorruptFile, at)
		}
	case Passphrase:
		pass, err := passphrase()
		if err != nil {
			return nil, 0, err
		}
		if len(pass) == 0 {
			return nil, 0, fmt.Errorf("identity: %w", ErrNoPassphrase)
		}
		// age takes the passphrase as a string, which Go cannot erase; we
		// clear our byte copy and drop the string as soon as we can.
		sid, err := age.NewScryptIdentity(string(pass))
		clear(pass)
		if err != nil {
			return nil, 0, fmt.Errorf("identity: %w", err)
		}
		sid.SetMaxWorkFactor(maxLoadWorkFactor)
		r, err := age.Decrypt(armor.NewReader(bytes.NewReader(c.body)), sid)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, 0, fmt.Errorf("identity: %w%s", ErrWrongPassphrase, forPath)
		} else if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %s%v", ErrCorruptFile, at, err)
		}
		seed, err = io.ReadAll(io.LimitReader(r, 1024))
		if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %s%v", ErrCorruptFile, at, err)
		}
	}
	defer clear(seed)
	if len(seed) != 32 {
		return nil, 0, fmt.Errorf("identity: %w: %skey is %d bytes, want 32", ErrCorruptFile, at, len(seed))
	}
	id, err := FromSeed(seed)
	if err != nil {
		return nil, 0, err
	}
	if !id.ID().Equal(c.id) {
		return nil, 0, fmt.Errorf("identity: %w: %sthe public-id header does not match the key", ErrCorruptFile, at)
	}
	return id, c.prot, nil
}
