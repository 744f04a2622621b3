package dkim_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"gatewayd/relay/dkim"
)

const (
	domain   = "example.com"
	selector = "gwtest1234"
)

// The one key of this test binary: 2048-bit generation is slow.
var (
	keyOnce sync.Once
	keyPEM  []byte
	keyPub  string
	keyErr  error
)

func testKey(t testing.TB) ([]byte, string) {
	t.Helper()
	keyOnce.Do(func() { keyPEM, keyPub, keyErr = dkim.GenerateKey() })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return keyPEM, keyPub
}

const message = "From: Sender <news@example.com>\r\n" +
	"To: rcpt@example.org\r\n" +
	"Subject: Monthly   report\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <abc123@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"List-Unsubscribe: <https://gw.example.com/u/tok>,\r\n <mailto:unsub@example.com>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"X-Mailer: gatewayd\r\n" +
	"\r\n" +
	"Hello,\r\n" +
	"\r\n" +
	"the numbers are in.\r\n"

func signer(t *testing.T) (*dkim.Signer, string) {
	t.Helper()
	priv, pub := testKey(t)
	s, err := dkim.NewSigner(domain, selector, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// verify checks msg's single signature against the published record and
// returns its verification error.
func verify(t *testing.T, msg []byte, pub string) error {
	t.Helper()
	lookups := 0
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			lookups++
			if name != selector+"._domainkey."+domain {
				t.Errorf("key looked up at %q", name)
			}
			return []string{dkim.TXTRecord(pub)}, nil
		},
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(verifs) != 1 {
		t.Fatalf("%d signatures found, want 1", len(verifs))
	}
	if verifs[0].Err == nil && (verifs[0].Domain != domain || lookups != 1) {
		t.Fatalf("verified domain %q after %d lookups", verifs[0].Domain, lookups)
	}
	return verifs[0].Err
}

// signatureTags parses the DKIM-Signature field heading msg.
func signatureTags(t *testing.T, msg []byte) map[string]string {
	t.Helper()
	s := string(msg)
	if !strings.HasPrefix(s, "DKIM-Signature:") {
		t.Fatalf("message does not start with DKIM-Signature: %.60q", s)
	}
	end := strings.Index(s, "\r\n")
	for end >= 0 && end+2 < len(s) && (s[end+2] == ' ' || s[end+2] == '\t') {
		next := strings.Index(s[end+2:], "\r\n")
		end += 2 + next
	}
	value := strings.TrimPrefix(s[:end], "DKIM-Signature:")
	tags := map[string]string{}
	for part := range strings.SplitSeq(value, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(v), "")
	}
	return tags
}

func TestSignVerifies(t *testing.T) {
	s, pub := signer(t)
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(message)) {
		t.Fatal("signed message does not end with the original message")
	}
	if err := verify(t, signed, pub); err != nil {
		t.Fatalf("verification failed: %v", err)
	}

	tags := signatureTags(t, signed)
	want := map[string]string{
		"d": domain, "s": selector, "a": "rsa-sha256", "c": "relaxed/relaxed",
		// Only the fields present: no Cc, no Reply-To, never X-Mailer.
		"h": "From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:List-Unsubscribe:List-Unsubscribe-Post",
	}
	for k, v := range want {
		if !strings.EqualFold(tags[k], v) {
			t.Errorf("tag %s= %q, want %q", k, tags[k], v)
		}
	}
}

func TestTamperingBreaksSignature(t *testing.T) {
	s, pub := signer(t)
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	tampered := map[string][]byte{
		"body":            bytes.Replace(signed, []byte("numbers are in"), []byte("numbers are up"), 1),
		"subject":         bytes.Replace(signed, []byte("Subject: Monthly"), []byte("Subject: Weekly"), 1),
		"unsubscribe url": bytes.Replace(signed, []byte("/u/tok"), []byte("/u/evil"), 1),
		"recipient":       bytes.Replace(signed, []byte("To: rcpt@"), []byte("To: other@"), 1),
	}
	for name, msg := range tampered {
		if bytes.Equal(msg, signed) {
			t.Fatalf("%s: tampering did not change the message", name)
		}
		if err := verify(t, msg, pub); err == nil {
			t.Errorf("%s changed after signing, yet the signature verifies", name)
		}
	}
}

func TestRelaxedCanonicalization(t *testing.T) {
	s, pub := signer(t)
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	// Whitespace changes that relaxed canonicalization ignores, and a field
	// outside the signed set, must not break the signature.
	msg := bytes.Replace(signed, []byte("Subject: Monthly   report"), []byte("Subject:Monthly report"), 1)
	msg = bytes.Replace(msg, []byte("the numbers are in.\r\n"), []byte("the numbers  are in. \r\n\r\n"), 1)
	msg = bytes.Replace(msg, []byte("\r\nX-Mailer:"), []byte("\r\nReceived: from relay\r\nX-Mailer:"), 1)
	if err := verify(t, msg, pub); err != nil {
		t.Fatalf("relaxed-equivalent message fails verification: %v", err)
	}
}

func TestSignMinimalAndLFMessage(t *testing.T) {
	s, pub := signer(t)
	lf := "From: a@example.com\nTo: b@example.org\nTo: c@example.org\n\nline one\nline two\n"
	signed, err := s.Sign([]byte(lf))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(signed, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("signed message still has bare LF line endings")
	}
	if err := verify(t, signed, pub); err != nil {
		t.Fatalf("verification failed: %v", err)
	}
	if h := signatureTags(t, signed)["h"]; !strings.EqualFold(h, "From:To:To") {
		t.Fatalf("h= %q, want From:To:To", h)
	}

	// A header-only message gets an empty body and still verifies.
	signed, err = s.Sign([]byte("From: a@example.com\r\nSubject: hi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, signed, pub); err != nil {
		t.Fatalf("header-only message: %v", err)
	}
}

func TestSignRequiresFrom(t *testing.T) {
	s, _ := signer(t)
	if _, err := s.Sign([]byte("To: b@example.org\r\nSubject: x\r\n\r\nbody\r\n")); err == nil {
		t.Fatal("signed a message without From")
	}
	// "From" inside the body is not a From header field.
	if _, err := s.Sign([]byte("To: b@example.org\r\n\r\nFrom: a@example.com\r\n")); err == nil {
		t.Fatal("signed a message whose only From is in the body")
	}
}

func TestPKCS1KeySigns(t *testing.T) {
	priv, pub := testKey(t)
	block, _ := pem.Decode(priv)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))})
	s, err := dkim.NewSigner(domain, selector, pkcs1)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, signed, pub); err != nil {
		t.Fatalf("verification failed: %v", err)
	}
}

func TestNewSignerRejectsBadKeys(t *testing.T) {
	priv, _ := testKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(priv)
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes[:len(block.Bytes)/2]})

	bad := map[string][]byte{
		"empty":         nil,
		"not PEM":       []byte("not a key"),
		"certificate":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}),
		"corrupt PKCS8": corrupt,
		"corrupt PKCS1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"EC key":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
	}
	for name, pemBytes := range bad {
		if _, err := dkim.NewSigner(domain, selector, pemBytes); err == nil {
			t.Errorf("%s: NewSigner accepted it", name)
		}
	}
	if _, err := dkim.NewSigner("", selector, priv); err == nil {
		t.Error("NewSigner accepted an empty domain")
	}
	if _, err := dkim.NewSigner(domain, "", priv); err == nil {
		t.Error("NewSigner accepted an empty selector")
	}
}

func TestGenerateKeyAndRecord(t *testing.T) {
	priv, pub := testKey(t)
	der, err := base64.StdEncoding.DecodeString(pub)
	if err != nil {
		t.Fatalf("public key is not base64: %v", err)
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("public key is not PKIX DER: %v", err)
	}
	rsaPub, ok := pk.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("public key is %T, want RSA", pk)
	}
	if rsaPub.N.BitLen() != 2048 {
		t.Fatalf("public key has %d bits, want 2048", rsaPub.N.BitLen())
	}
	block, _ := pem.Decode(priv)
	if block == nil {
		t.Fatal("private key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !k.(*rsa.PrivateKey).PublicKey.Equal(rsaPub) {
		t.Fatal("public key does not match the private key")
	}
	if got, want := dkim.TXTRecord(pub), "v=DKIM1; k=rsa; p="+pub; got != want {
		t.Fatalf("TXTRecord = %q, want %q", got, want)
	}
}

func TestNewSelector(t *testing.T) {
	valid := regexp.MustCompile(`^gw[a-z0-9]{8}$`)
	seen := map[string]bool{}
	for range 200 {
		s := dkim.NewSelector()
		if !valid.MatchString(s) {
			t.Fatalf("selector %q is not gw + 8 lower-case letters or digits", s)
		}
		if seen[s] {
			t.Fatalf("selector %q drawn twice", s)
		}
		seen[s] = true
	}
}

// TestEd25519DualSignatureVerifies: an Ed25519 signer (RFC 8463) adds an ed25519-sha256
// signature over a message already signed with RSA, as a domain that dual-signs does; a
// verifier finds both and each passes against its own published record (k=ed25519 with the
// bare 32-byte key, k=rsa).
func TestEd25519DualSignatureVerifies(t *testing.T) {
	rsaSigner, rsaPub := signer(t)
	edPriv, edPub, err := dkim.GenerateEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(edPub); err != nil || len(raw) != 32 {
		t.Fatalf("Ed25519 p= is %d bytes (%v), want the 32-byte key", len(raw), err)
	}
	const edSelector = "gwed25519"
	edSigner, err := dkim.NewSigner(domain, edSelector, edPriv)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := rsaSigner.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if signed, err = edSigner.Sign(signed); err != nil {
		t.Fatal(err)
	}
	if tags := signatureTags(t, signed); tags["a"] != "ed25519-sha256" || tags["s"] != edSelector || tags["d"] != domain {
		t.Errorf("Ed25519 signature tags %v", tags)
	}
	records := map[string]string{
		selector + "._domainkey." + domain:   dkim.TXTRecord(rsaPub),
		edSelector + "._domainkey." + domain: dkim.TXTRecordEd25519(edPub),
	}
	if !strings.Contains(records[edSelector+"._domainkey."+domain], "k=ed25519; p=") {
		t.Fatalf("record %q", records[edSelector+"._domainkey."+domain])
	}
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no record at %s", name)
		},
	})
	if err != nil || len(verifs) != 2 {
		t.Fatalf("%d signatures (%v), want 2", len(verifs), err)
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != domain {
			t.Errorf("signature of %s: %v", v.Domain, v.Err)
		}
	}
	// A changed body fails both.
	tampered := bytes.Replace(signed, []byte("Hello"), []byte("Jello"), 1)
	verifs, _ = msgdkim.VerifyWithOptions(bytes.NewReader(tampered), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return []string{records[name]}, nil },
	})
	for _, v := range verifs {
		if v.Err == nil {
			t.Error("a tampered message still verifies")
		}
	}
}

// BenchmarkSign measures signing one 4 KiB message with the domain's RSA-2048 key, with an
// Ed25519 key, and with both (a DKIMEd25519 domain).
func BenchmarkSign(b *testing.B) {
	body := message + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n", 55)
	rsaPriv, _ := testKey(b)
	edPriv, _, err := dkim.GenerateEd25519Key()
	if err != nil {
		b.Fatal(err)
	}
	rs, _ := dkim.NewSigner(domain, selector, rsaPriv)
	es, _ := dkim.NewSigner(domain, "gwed", edPriv)
	for _, c := range []struct {
		name    string
		signers []*dkim.Signer
	}{{"rsa2048", []*dkim.Signer{rs}}, {"ed25519", []*dkim.Signer{es}}, {"both", []*dkim.Signer{rs, es}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				msg := []byte(body)
				for _, s := range c.signers {
					var err error
					if msg, err = s.Sign(msg); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
