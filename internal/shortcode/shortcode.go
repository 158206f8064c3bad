// Package shortcode makes and reads the short code one person reads aloud
// to another for a first contact on a local network, such as
// "42-adroitness-aardvark-adviser": a channel number and three words, in
// the manner of magic-wormhole's "7-guitarist-revenge".
//
// The code is the password of a PAKE (see internal/cpace): [Code.PRS] is
// what both sides give it. The channel number only helps the receiver find
// the sender: [Code.Lookup], derived from the number alone, is what may be
// sent in clear on the network. The words never leave the program.
//
// # Words
//
// The words come from the PGP word list, made for reading binary data
// aloud: 256 two-syllable "even" words and 256 three-syllable "odd" words,
// chosen to sound distinct. As in magic-wormhole, a code alternates the two
// lists (odd, even, odd), so a dropped word or two neighbouring words
// swapped are noticed before any attempt is spent. The list is also far apart in spelling: one pair of
// its 512 words is one edit apart (revenge, revenue, which are in different
// lists) and 25 pairs are two edits apart, so a typo rarely becomes another
// valid code, and Parse can suggest the word meant. (EFF's first short
// list, 1296 words, would give 10.3 bits a word, but 1080 of its pairs are
// one edit apart, so a typo there often spends the one attempt.)
//
// # Entropy
//
// Each word carries 8 bits, so the words carry 24 bits: a guess at the
// words is right with probability 2^-24, 1 in 16,777,216. The channel
// number (1 to 999) adds log2(999) ≈ 9.96 bits only against someone who
// does not see the network: the lookup value it derives is public and the
// 999 numbers are quickly tried, so against an attacker on the local
// network the code is worth its 24 bits of words. CPace gives such an
// attacker no offline test: each run of the exchange allows one online
// guess. A program that uses a code must retire it after one failed run,
// so that one code allows one guess.
package shortcode

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Format constants.
const (
	// NumWords is the number of words in a code.
	NumWords = 3
	// MinChannel and MaxChannel bound the channel number (both inclusive).
	MinChannel = 1
	MaxChannel = 999
	// MaxCodeLength is the longest text Parse reads, in bytes, before
	// trimming: longer input is rejected unread.
	MaxCodeLength = 128
	// LookupSize is the size of Code.Lookup.
	LookupSize = 16
)

// lookupLabel separates the lookup hash from every other use of SHA-256.
const lookupLabel = "sp2p v2 short code lookup"

// ErrInvalidCode is wrapped by every error Parse and Code.Validate return.
var ErrInvalidCode = errors.New("shortcode: invalid code")

// Code is a short code: a channel number and NumWords words, in lower case.
// Codes come from Generate or Parse.
type Code struct {
	Channel uint16
	Words   []string
}

// Generate returns a fresh code: a channel number uniform in
// [MinChannel, MaxChannel] and NumWords words uniform in their lists, all
// from crypto/rand.
func Generate() (Code, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(MaxChannel-MinChannel+1))
	if err != nil {
		return Code{}, fmt.Errorf("shortcode: %w", err)
	}
	var b [NumWords]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Code{}, fmt.Errorf("shortcode: %w", err)
	}
	c := Code{Channel: uint16(n.Int64() + MinChannel), Words: make([]string, NumWords)}
	for i := range c.Words {
		c.Words[i] = listFor(i).words[b[i]]
	}
	clear(b[:])
	return c, nil
}

// String returns the canonical form, the number and the words joined by
// hyphens: "42-adroitness-aardvark-adviser".
func (c Code) String() string {
	return strconv.Itoa(int(c.Channel)) + "-" + strings.Join(c.Words, "-")
}

// PRS returns the password-related string both sides give CPace: the bytes
// of the canonical form (String), number included.
func (c Code) PRS() []byte {
	return []byte(c.String())
}

// Lookup returns the value that may be sent in clear to find the sender of
// this code: the first LookupSize bytes of SHA-256(lookupLabel || 0x00 ||
// channel as 2 bytes big-endian). It depends on the channel number only,
// so it reveals nothing about the words; it does not hide the number,
// which anyone can find by trying the 999 values.
func (c Code) Lookup() [LookupSize]byte {
	h := sha256.New()
	h.Write([]byte(lookupLabel))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint16(nil, c.Channel))
	var out [LookupSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Validate reports whether c is a code Generate could return: a channel
// number in range and NumWords lower-case words, each from its list.
func (c Code) Validate() error {
	if c.Channel < MinChannel || c.Channel > MaxChannel {
		return fmt.Errorf("%w: channel number %d is not between %d and %d", ErrInvalidCode, c.Channel, MinChannel, MaxChannel)
	}
	if len(c.Words) != NumWords {
		return fmt.Errorf("%w: %d words, want %d", ErrInvalidCode, len(c.Words), NumWords)
	}
	for i, w := range c.Words {
		if _, ok := listFor(i).index[w]; !ok {
			return fmt.Errorf("%w: word %d %q is not a word of its list", ErrInvalidCode, i+1, w)
		}
	}
	return nil
}
