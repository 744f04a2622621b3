package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Kind says what a token tracks.
type Kind byte

// The token kinds. The zero Kind is invalid, so a zeroed payload never parses.
const (
	Open        Kind = 1
	Click       Kind = 2
	Unsubscribe Kind = 3
	// WebView is the recipient's copy of the message in a browser (%Link:WebBrowser%).
	WebView Kind = 4
)

// String names the kind as the event types do ("open", "click", "unsubscribe").
func (k Kind) String() string {
	switch k {
	case Open:
		return "open"
	case Click:
		return "click"
	case Unsubscribe:
		return "unsubscribe"
	case WebView:
		return "view"
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

func (k Kind) valid() bool { return k == Open || k == Click || k == Unsubscribe || k == WebView }

// Claim is what a token carries: the kind, the recipient row id and, for
// clicks only, the index of the link in the URLs Rewrite returned for that
// recipient. Link is not encoded for Open, Unsubscribe and WebView and parses as 0.
type Claim struct {
	Kind        Kind
	RecipientID int64
	Link        int
}

// ErrInvalidToken is wrapped by every error Parse returns. The HTTP layer
// answers any of them with 404 and must not say which check failed.
var ErrInvalidToken = errors.New("tracking: invalid token")

const (
	macLen = 16 // bytes of HMAC-SHA256 kept in a token
	// maxPayload is a kind byte plus two 10-byte uvarints.
	maxPayload = 1 + 2*binary.MaxVarintLen64
	// maxTokenLen bounds the text Parse looks at before decoding anything.
	maxTokenLen = (maxPayload + macLen + 2) / 3 * 4
	// minKeyLen is the shortest key NewSigner accepts.
	minKeyLen = 16
	// keyLabel separates the tracking key from other uses of the server key.
	keyLabel = "gatewayd tracking token v1"
)

// b64 is base64url without padding, strict so that each token has exactly
// one spelling: changing the unused low bits of the last character is
// tampering too.
func b64() *base64.Encoding { return base64.RawURLEncoding.Strict() }

// Signer makes and checks tokens. A token is base64url (no padding) of a
// payload (kind byte, uvarint recipient id, for clicks a uvarint link index)
// followed by the first 16 bytes of HMAC-SHA256 of the payload. The MAC key
// is derived from the server key, so tokens cannot be replayed as any other
// HMAC the server computes. A Signer is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for the server key (GATEWAY_SECRET_KEY).
// It panics when key is shorter than 16 bytes: a short key makes tokens
// guessable, and that is a configuration bug that must not start serving.
func NewSigner(key []byte) *Signer {
	if len(key) < minKeyLen {
		panic(fmt.Sprintf("tracking: signing key is %d bytes, need at least %d", len(key), minKeyLen))
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(keyLabel))
	return &Signer{key: m.Sum(nil)}
}

func (s *Signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// Token returns the URL-safe token for c. Negative ids or link indexes make
// a token that Parse rejects; recipient row ids and link indexes are never
// negative.
func (s *Signer) Token(c Claim) string {
	b := make([]byte, 0, maxPayload+macLen)
	b = append(b, byte(c.Kind))
	b = binary.AppendUvarint(b, uint64(c.RecipientID))
	if c.Kind == Click {
		b = binary.AppendUvarint(b, uint64(int64(c.Link)))
	}
	b = append(b, s.mac(b)...)
	return b64().EncodeToString(b)
}

// Parse checks a token and returns its claim. Bad base64, a wrong length, a
// MAC that does not match (tampering, truncation, extension, another key)
// and an unknown kind are all errors wrapping ErrInvalidToken.
func (s *Signer) Parse(token string) (Claim, error) {
	if len(token) > maxTokenLen {
		return Claim{}, fmt.Errorf("%w: %d characters", ErrInvalidToken, len(token))
	}
	// The decoder skips '\r' and '\n'; a token has one spelling only.
	for i := 0; i < len(token); i++ {
		if !isTokenByte(token[i]) {
			return Claim{}, fmt.Errorf("%w: byte %#x at %d", ErrInvalidToken, token[i], i)
		}
	}
	raw, err := b64().DecodeString(token)
	if err != nil {
		return Claim{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(raw) < 2+macLen {
		return Claim{}, fmt.Errorf("%w: %d bytes", ErrInvalidToken, len(raw))
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, s.mac(payload)) {
		return Claim{}, fmt.Errorf("%w: signature mismatch", ErrInvalidToken)
	}
	c := Claim{Kind: Kind(payload[0])}
	if !c.Kind.valid() {
		return Claim{}, fmt.Errorf("%w: unknown kind %d", ErrInvalidToken, payload[0])
	}
	rest := payload[1:]
	id, n := binary.Uvarint(rest)
	if n <= 0 || id > math.MaxInt64 {
		return Claim{}, fmt.Errorf("%w: bad recipient id", ErrInvalidToken)
	}
	c.RecipientID = int64(id)
	rest = rest[n:]
	if c.Kind == Click {
		link, n := binary.Uvarint(rest)
		if n <= 0 || link > math.MaxInt {
			return Claim{}, fmt.Errorf("%w: bad link index", ErrInvalidToken)
		}
		c.Link = int(link)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return Claim{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalidToken, len(rest))
	}
	return c, nil
}

func isTokenByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// ParseKind is Parse for an endpoint that serves one kind: a valid token of
// another kind is an error too, so an open token cannot unsubscribe.
func (s *Signer) ParseKind(token string, want Kind) (Claim, error) {
	c, err := s.Parse(token)
	if err != nil {
		return Claim{}, err
	}
	if c.Kind != want {
		return Claim{}, fmt.Errorf("%w: %s token where %s expected", ErrInvalidToken, c.Kind, want)
	}
	return c, nil
}
