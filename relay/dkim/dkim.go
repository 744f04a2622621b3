// Package dkim owns sender-domain DKIM keys and the signing of outgoing
// messages: key generation, the TXT record to publish, selector names, and
// a per-domain Signer (relaxed/relaxed, rsa-sha256, or ed25519-sha256 of
// RFC 8463 with an Ed25519 key).
//
// It must not store keys, look up DNS or decide which domain signs a message;
// callers hand it a domain, a selector and the key they keep.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// KeyBits is the size of generated RSA keys.
const KeyBits = 2048

// minKeyBits is the smallest RSA key NewSigner accepts (RFC 8301).
const minKeyBits = 1024

// GenerateKey makes a KeyBits RSA key. privPEM is a PKCS#8 "PRIVATE KEY" PEM
// block; pubB64 is the base64 of the PKIX DER public key (the p= value).
func GenerateKey() (privPEM []byte, pubB64 string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: encode private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: encode public key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return privPEM, base64.StdEncoding.EncodeToString(pub), nil
}

// TXTRecord is the value to publish at <selector>._domainkey.<domain>.
func TXTRecord(pubB64 string) string {
	return "v=DKIM1; k=rsa; p=" + pubB64
}

// GenerateEd25519Key makes an Ed25519 key (RFC 8463). privPEM is a PKCS#8
// "PRIVATE KEY" PEM block; pubB64 is the base64 of the 32-byte public key
// (RFC 8463 section 4.2: the key itself, not a SubjectPublicKeyInfo).
func GenerateEd25519Key() (privPEM []byte, pubB64 string, err error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("dkim: encode private key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return privPEM, base64.StdEncoding.EncodeToString(pub), nil
}

// TXTRecordEd25519 is the value to publish for an Ed25519 key.
func TXTRecordEd25519(pubB64 string) string {
	return "v=DKIM1; k=ed25519; p=" + pubB64
}

// NewSelector returns a fresh selector: "gw" and 8 random lower-case letters
// or digits, safe as a DNS label.
func NewSelector() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	const keep = 256 - 256%len(alphabet) // reject bytes that would bias the draw
	out := make([]byte, 0, 10)
	out = append(out, "gw"...)
	var buf [16]byte
	for len(out) < cap(out) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			if int(b) < keep && len(out) < cap(out) {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// Signer signs outgoing messages for one domain with one key.
// It is safe for concurrent use.
type Signer struct {
	domain   string
	selector string
	key      crypto.Signer
}

// NewSigner returns a signer for domain under selector with an RSA private
// key in PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"), or an
// Ed25519 one (PKCS#8), which signs ed25519-sha256.
func NewSigner(domain, selector string, privPEM []byte) (*Signer, error) {
	if domain == "" || selector == "" {
		return nil, errors.New("dkim: domain and selector are required")
	}
	key, err := parseKey(privPEM)
	if err != nil {
		return nil, fmt.Errorf("dkim: %s: %w", domain, err)
	}
	return &Signer{domain: strings.ToLower(domain), selector: selector, key: key}, nil
}

func parseKey(privPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(privPEM)
	if block == nil {
		return nil, errors.New("private key is not PEM")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 key: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
		}
		if ek, ok := k.(ed25519.PrivateKey); ok {
			return ek, nil
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is %T, want RSA or Ed25519", k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if key.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too small", key.N.BitLen())
	}
	return key, nil
}

// Sign returns msg with a DKIM-Signature header field prepended. Line endings
// are normalised to CRLF first (the returned message uses CRLF throughout, as
// SMTP carries it). The signature covers From and, when present, To, Cc,
// Subject, Date, Message-ID, Reply-To, MIME-Version, Content-Type,
// List-Unsubscribe and List-Unsubscribe-Post, each instance of each; a
// message without From is refused.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	msg = toCRLF(msg)
	keys := headerKeys(msg)
	if !containsFold(keys, "From") {
		return nil, errors.New("dkim: message has no From header field")
	}
	var out bytes.Buffer
	out.Grow(len(msg) + 1024)
	err := msgdkim.Sign(&out, bytes.NewReader(msg), &msgdkim.SignOptions{
		Domain:                 s.domain,
		Selector:               s.selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return nil, fmt.Errorf("dkim: sign for %s: %w", s.domain, err)
	}
	return out.Bytes(), nil
}

// headerKeys lists the header fields to sign that are present in msg's
// header, once per instance, in a fixed order.
func headerKeys(msg []byte) []string {
	signed := [...]string{
		"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
		"MIME-Version", "Content-Type", "List-Unsubscribe", "List-Unsubscribe-Post",
	}
	counts := map[string]int{}
	for line := range strings.SplitSeq(string(headerSection(msg)), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a folded field
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		counts[strings.ToLower(strings.TrimSpace(name))]++
	}
	var keys []string
	for _, h := range signed {
		for range counts[strings.ToLower(h)] {
			keys = append(keys, h)
		}
	}
	return keys
}

// headerSection returns msg up to the blank line ending its header.
func headerSection(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i]
	}
	return msg
}

// toCRLF turns bare LF line endings into CRLF, and makes sure the header
// ends with a blank line (a message of header fields only gets an empty
// body).
func toCRLF(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/32 + 4)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	out := b.Bytes()
	if !bytes.HasPrefix(out, []byte("\r\n")) && !bytes.Contains(out, []byte("\r\n\r\n")) {
		if !bytes.HasSuffix(out, []byte("\r\n")) && len(out) > 0 {
			out = append(out, "\r\n"...)
		}
		out = append(out, "\r\n"...)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
