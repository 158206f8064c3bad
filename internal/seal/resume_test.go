package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"
)

const resumeVectorsFile = "../../testdata/resume-vectors.json"

// resumeVectors are the key schedule's resume values for fixed inputs,
// for another implementation to check (SECURITY.md, "Resumption").
type resumeVectors struct {
	Shared       []byte `json:"shared"`     // the session's X25519 result
	Transcript   []byte `json:"transcript"` // the session's transcript hash
	ResumeSecret []byte `json:"resume_secret"`
	OffererUfrag string `json:"offerer_ice_ufrag_generation_1"`
	OffererPwd   string `json:"offerer_ice_pwd_generation_1"`
	AnswerUfrag  string `json:"answerer_ice_ufrag_generation_1"`
	AnswerPwd    string `json:"answerer_ice_pwd_generation_1"`
	MACMessage   []byte `json:"mac_message"`
	OffererMAC   []byte `json:"offerer_mac"`
	AnswererMAC  []byte `json:"answerer_mac"`
	// A resumption: its X25519 result and transcript hash, and the new
	// direction keys.
	ResumeShared      []byte `json:"resume_shared"`
	ResumeTranscript  []byte `json:"resume_transcript"`
	OffererToAnswerer []byte `json:"resumed_key_offerer_to_answerer"`
	AnswererToOfferer []byte `json:"resumed_key_answerer_to_offerer"`
}

func makeResumeVectors(t *testing.T) resumeVectors {
	t.Helper()
	shared := bytes.Repeat([]byte{0x42}, SharedSecretSize)
	tr := sha256.Sum256([]byte("offer token bytes || answer token bytes"))
	ko, err := DeriveKeys(shared, tr, Offerer)
	if err != nil {
		t.Fatal(err)
	}
	ro := ko.Resumer()
	v := resumeVectors{Shared: shared, Transcript: tr[:], ResumeSecret: append([]byte{}, ro.secret[:]...)}
	v.OffererUfrag, v.OffererPwd = ro.ICECredentials(Offerer, 1)
	v.AnswerUfrag, v.AnswerPwd = ro.ICECredentials(Answerer, 1)
	v.MACMessage = []byte("a resume message without its tag")
	mo, ma := ro.MAC(Offerer, v.MACMessage), ro.MAC(Answerer, v.MACMessage)
	v.OffererMAC, v.AnswererMAC = mo[:], ma[:]
	v.ResumeShared = bytes.Repeat([]byte{0x17}, SharedSecretSize)
	rt := sha256.Sum256([]byte("offerer's resume message || answerer's resume message"))
	v.ResumeTranscript = rt[:]
	nk, err := ro.Derive(v.ResumeShared, rt)
	if err != nil {
		t.Fatal(err)
	}
	v.OffererToAnswerer, v.AnswererToOfferer = append([]byte{}, nk.send[:]...), append([]byte{}, nk.recv[:]...)
	return v
}

func TestResumeVectors(t *testing.T) {
	t.Parallel()
	got := makeResumeVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(resumeVectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(resumeVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want resumeVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("resume vectors differ from %s:\ngot  %s\nwant %s", resumeVectorsFile, gb, wb)
	}
	if len(want.OffererUfrag) != ICEUfragSize || len(want.OffererPwd) != ICEPwdSize {
		t.Fatalf("credential sizes %d/%d", len(want.OffererUfrag), len(want.OffererPwd))
	}
}

// Both sides derive the same resumed keys (each one's send key is the
// other's receive key), keep the session id and safety code, and get keys
// that differ from the session's first ones and from another
// resumption's; a MAC from one role does not check as the other's, and a
// flipped bit fails.
func TestResumeKeys(t *testing.T) {
	t.Parallel()
	shared := bytes.Repeat([]byte{1}, SharedSecretSize)
	tr := sha256.Sum256([]byte("t"))
	ko, _ := DeriveKeys(shared, tr, Offerer)
	ka, _ := DeriveKeys(shared, tr, Answerer)
	ro, ra := ko.Resumer(), ka.Resumer()
	ko.Erase()
	if ro.secret == [ResumeSecretSize]byte{} {
		t.Fatal("erasing the keys erased the resumer's secret")
	}
	rs := bytes.Repeat([]byte{2}, SharedSecretSize)
	rt := sha256.Sum256([]byte("r"))
	no, err := ro.Derive(rs, rt)
	if err != nil {
		t.Fatal(err)
	}
	na, _ := ra.Derive(rs, rt)
	if no.send != na.recv || no.recv != na.send {
		t.Fatal("the two sides' resumed keys do not match")
	}
	if no.SessionID != ka.SessionID || no.SafetyCode != ka.SafetyCode {
		t.Fatal("resumption changed the session id or safety code")
	}
	if no.send == ka.recv || no.recv == ka.send {
		t.Fatal("resumed keys equal the session's first keys")
	}
	other, _ := ro.Derive(bytes.Repeat([]byte{3}, SharedSecretSize), rt)
	if other.send == no.send {
		t.Fatal("two resumptions with different X25519 results have the same keys")
	}
	if _, err := ro.Derive(make([]byte, SharedSecretSize), rt); err != ErrZeroSecret {
		t.Fatalf("all-zero shared secret: %v", err)
	}
	msg := []byte("message")
	tag := ro.MAC(Offerer, msg)
	if !ra.CheckMAC(Offerer, msg, tag[:]) {
		t.Fatal("the peer does not accept the tag")
	}
	if ra.CheckMAC(Answerer, msg, tag[:]) {
		t.Fatal("the offerer's tag checks as the answerer's")
	}
	for i := range len(msg) * 8 {
		m := append([]byte{}, msg...)
		m[i/8] ^= 1 << (i % 8)
		if ra.CheckMAC(Offerer, m, tag[:]) {
			t.Fatalf("bit %d flipped: tag still checks", i)
		}
	}
	uo, po := ro.ICECredentials(Offerer, 1)
	ua, pa := ro.ICECredentials(Answerer, 1)
	if uo == ua || po == pa {
		t.Fatal("both roles have the same ICE credentials")
	}
	if u2, _ := ra.ICECredentials(Offerer, 1); u2 != uo {
		t.Fatal("the two sides derive different credentials for the offerer")
	}
	if u2, _ := ro.ICECredentials(Offerer, 2); u2 == uo {
		t.Fatal("two generations have the same credentials")
	}
	ro.Erase()
	if ro.secret != [ResumeSecretSize]byte{} {
		t.Fatal("Erase left the secret")
	}
}

// Erase leaves no key in a sealer or an opener.
func TestSealerOpenerErase(t *testing.T) {
	t.Parallel()
	var tr [TranscriptSize]byte
	k, _ := DeriveKeys(bytes.Repeat([]byte{4}, SharedSecretSize), tr, Offerer)
	s, o := New(k, Config{})
	s.Erase()
	o.Erase()
	var zero [KeySize]byte
	if s.state.key != zero || o.cur.key != zero || o.prev.key != zero || o.next.key != zero {
		t.Fatal("a key is left after Erase")
	}
}
