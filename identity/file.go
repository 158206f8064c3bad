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
	maxLoadWorkFactor = 22
	minSaveWorkFactor = 10
	DefaultFileName   = "identity"
	DefaultPeersName  = "known_peers"
	configDirName     = "sp2p"
	identityEnvVar    = "SP2P_IDENTITY"
)

// Errors of the identity file. Test for them with errors.Is.
var (
	ErrNoIdentity      = errors.New("no identity file")
	ErrExists          = errors.New("identity file already exists")
	ErrPermissions     = errors.New("file permissions are too open")
	ErrWrongPassphrase = errors.New("wrong passphrase")
	ErrCorruptFile     = errors.New("identity file is corrupt")
	ErrNoPassphrase    = errors.New("no passphrase given")
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
		return "", fmt.Errorf("identity: no config directory (set %s or use --identity): %w", identityEnvVar, err)
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
	// Values below 10 are raised to 10.
	ScryptWorkFactor int
}

// Save writes id to path atomically with mode 0600, creating missing parent
// directories with mode 0700.
func Save(path string, id *Identity, opts SaveOptions) error {
	if opts.InsecureUnencrypted == (len(opts.Passphrase) > 0) {
		if opts.InsecureUnencrypted {
			panic("identity: Save with both a passphrase and InsecureUnencrypted")
		}
		return fmt.Errorf("identity: %w (or choose an unencrypted file explicitly)", ErrNoPassphrase)
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("identity: %w at %s (use --force to replace it; the old identity is then lost)", ErrExists, path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("identity: creating directory: %w", err)
	}
	seed := id.seed()
	defer clear(seed)

	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s: %s\n", fileMagic, fileHeaderID, id.ID())
	if opts.InsecureUnencrypted {
		fmt.Fprintf(&b, "%s: %s\n%s: %s\n", fileHeaderProt, protNone, fileHeaderSecret, base64.StdEncoding.EncodeToString(seed))
	} else {
		fmt.Fprintf(&b, "%s: %s\n\n", fileHeaderProt, protPassphrase)
		r, err := age.NewScryptRecipient(string(opts.Passphrase))
		if err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		wf := opts.ScryptWorkFactor
		if wf == 0 {
			wf = defaultWorkFactor
		}
		r.SetWorkFactor(max(wf, minSaveWorkFactor))
		aw := armor.NewWriter(&b)
		w, err := age.Encrypt(aw, r)
		if err != nil {
			return fmt.Errorf("identity: encrypting: %w", err)
		}
		if _, err := w.Write(seed); err != nil {
			return fmt.Errorf("identity: encrypting: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("identity: encrypting: %w", err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("identity: encrypting: %w", err)
		}
		b.WriteByte('\n')
	}
	defer clear(b.Bytes())
	if err := writeFileAtomic(path, b.Bytes(), 0o600, opts.Overwrite); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("identity: %w at %s (use --force to replace it; the old identity is then lost)", ErrExists, path)
		}
		return fmt.Errorf("identity: writing %s: %w", path, err)
	}
	return nil
}

// fileContents is a parsed identity file.
type fileContents struct {
	id     ID
	prot   Protection
	secret string // base64 seed (Unprotected)
	body   []byte // armored age file (Passphrase)
}

func readIdentityFile(path string) (*fileContents, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity: %w at %s (create one with: sp2p keygen)", ErrNoIdentity, path)
	} else if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity: %s is not a regular file", path)
	}
	if err := checkPrivate(path, fi); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("identity: reading %s: %w", path, err)
	}
	defer clear(data)
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("identity: %w: %s is larger than %d bytes", ErrCorruptFile, path, maxIdentityFile)
	}
	c, err := parseIdentityFile(data)
	if err != nil {
		return nil, fmt.Errorf("identity: %w: %s: %v", ErrCorruptFile, path, err)
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
				return nil, fmt.Errorf("line %d: %v", line, err)
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
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return c, nil
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
// A file that group or others can read is refused with ErrPermissions.
func Load(path string, passphrase func() ([]byte, error)) (*Identity, Protection, error) {
	c, err := readIdentityFile(path)
	if err != nil {
		return nil, 0, err
	}
	var seed []byte
	switch c.prot {
	case Unprotected:
		seed, err = base64.StdEncoding.Strict().DecodeString(c.secret)
		if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %s: secret-key is not valid base64", ErrCorruptFile, path)
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
			return nil, 0, fmt.Errorf("identity: %w for %s", ErrWrongPassphrase, path)
		} else if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %s: %v", ErrCorruptFile, path, err)
		}
		seed, err = io.ReadAll(io.LimitReader(r, 1024))
		if err != nil {
			return nil, 0, fmt.Errorf("identity: %w: %s: %v", ErrCorruptFile, path, err)
		}
	}
	defer clear(seed)
	if len(seed) != 32 {
		return nil, 0, fmt.Errorf("identity: %w: %s: key is %d bytes, want 32", ErrCorruptFile, path, len(seed))
	}
	id, err := FromSeed(seed)
	if err != nil {
		return nil, 0, err
	}
	if !id.ID().Equal(c.id) {
		return nil, 0, fmt.Errorf("identity: %w: %s: the public-id header does not match the key", ErrCorruptFile, path)
	}
	return id, c.prot, nil
}
