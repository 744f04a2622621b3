package tracking

import (
	"encoding/binary"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
)

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestTokenRoundTrip(t *testing.T) {
	s := testSigner()
	ids := []int64{0, 1, 42, 127, 128, 1 << 31, 1<<53 + 1, math.MaxInt64}
	linkIdx := []int{0, 1, 7, 300, math.MaxInt32, math.MaxInt}
	var claims []Claim
	for _, id := range ids {
		claims = append(claims, Claim{Kind: Open, RecipientID: id}, Claim{Kind: Unsubscribe, RecipientID: id})
		for _, l := range linkIdx {
			claims = append(claims, Claim{Kind: Click, RecipientID: id, Link: l})
		}
	}
	seen := make(map[string]Claim)
	for _, c := range claims {
		tok := s.Token(c)
		if !urlSafe.MatchString(tok) {
			t.Errorf("Token(%+v) = %q: not URL-safe", c, tok)
		}
		if len(tok) > maxTokenLen {
			t.Errorf("Token(%+v) is %d characters, over %d", c, len(tok), maxTokenLen)
		}
		got, err := s.Parse(tok)
		if err != nil {
			t.Errorf("Parse(Token(%+v)): %v", c, err)
			continue
		}
		if got != c {
			t.Errorf("Parse(Token(%+v)) = %+v", c, got)
		}
		if prev, dup := seen[tok]; dup {
			t.Errorf("claims %+v and %+v share token %q", prev, c, tok)
		}
		seen[tok] = c
		if again := NewSigner([]byte("0123456789abcdef0123456789abcdef")).Token(c); again != tok {
			t.Errorf("a second signer with the same key made %q, want %q (tokens must agree across nodes)", again, tok)
		}
	}
	// Compact: a typical click token stays short enough for any mail client.
	if tok := s.Token(Claim{Kind: Click, RecipientID: 123456789, Link: 12}); len(tok) > 30 {
		t.Errorf("typical click token is %d characters: %q", len(tok), tok)
	}
}

func TestOpenAndUnsubscribeIgnoreLink(t *testing.T) {
	s := testSigner()
	for _, k := range []Kind{Open, Unsubscribe} {
		c, err := s.Parse(s.Token(Claim{Kind: k, RecipientID: 9, Link: 5}))
		if err != nil || c != (Claim{Kind: k, RecipientID: 9}) {
			t.Errorf("%s token with a link parses to %+v, %v; want the link dropped", k, c, err)
		}
	}
}

func rejected(t *testing.T, s *Signer, what, tok string) {
	t.Helper()
	c, err := s.Parse(tok)
	if err == nil {
		t.Errorf("%s: Parse(%q) accepted, claim %+v", what, tok, c)
		return
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Errorf("%s: Parse(%q) error %v does not wrap ErrInvalidToken", what, tok, err)
	}
}

func TestParseRejectsTampering(t *testing.T) {
	s := testSigner()
	other := NewSigner([]byte("another key, also 32 bytes long!"))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range []Claim{
		{Kind: Open, RecipientID: 42},
		{Kind: Click, RecipientID: 42, Link: 3},
		{Kind: Unsubscribe, RecipientID: math.MaxInt64},
	} {
		tok := s.Token(c)
		// Every other character at every position.
		for i := range len(tok) {
			for _, r := range alphabet {
				if byte(r) == tok[i] {
					continue
				}
				rejected(t, s, "changed character", tok[:i]+string(r)+tok[i+1:])
			}
		}
		// Every bit of the decoded bytes.
		raw, err := b64().DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			for bit := range 8 {
				m := append([]byte(nil), raw...)
				m[i] ^= 1 << bit
				rejected(t, s, "flipped bit", b64().EncodeToString(m))
			}
		}
		for n := range len(tok) {
			rejected(t, s, "truncated", tok[:n])
		}
		for _, ext := range []string{"A", "AA", "AAA", "AAAA", "_", "=", "==", " ", "\n", "%3D", tok} {
			rejected(t, s, "extended", tok+ext)
			rejected(t, s, "prefixed", ext+tok)
		}
		rejected(t, other, "other key", tok)
		rejected(t, s, "standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(tok)+"x")
		rejected(t, s, "upper-cased", strings.ToUpper(tok))
	}
	for _, junk := range []string{"", "x", "====", "!!!!", strings.Repeat("A", 10000), "\x00\x00\x00"} {
		rejected(t, s, "junk", junk)
	}
}

func TestParseRejectsValidlySignedBadPayloads(t *testing.T) {
	s := testSigner()
	sign := func(payload []byte) string {
		return b64().EncodeToString(append(payload, s.mac(payload)...))
	}
	id := binary.AppendUvarint(nil, 42)
	cases := map[string][]byte{
		"kind 0":               append([]byte{0}, id...),
		"kind 5":               append([]byte{5}, id...),
		"kind 255":             append([]byte{255}, id...),
		"open with a link":     append(append([]byte{byte(Open)}, id...), 3),
		"click without a link": append([]byte{byte(Click)}, id...),
		"click with trailing":  append(append([]byte{byte(Click)}, id...), 3, 0),
		"unterminated varint":  {byte(Open), 0x80},
		"id over MaxInt64":     binary.AppendUvarint([]byte{byte(Open)}, math.MaxUint64),
		"link over MaxInt":     binary.AppendUvarint(append([]byte{byte(Click)}, id...), math.MaxUint64),
	}
	for name, p := range cases {
		rejected(t, s, name, sign(p))
	}
	rejected(t, s, "negative recipient", s.Token(Claim{Kind: Open, RecipientID: -1}))
	rejected(t, s, "negative link", s.Token(Claim{Kind: Click, RecipientID: 1, Link: -1}))
}

func TestParseKind(t *testing.T) {
	s := testSigner()
	open := s.Token(Claim{Kind: Open, RecipientID: 7})
	if c, err := s.ParseKind(open, Open); err != nil || c.RecipientID != 7 {
		t.Errorf("ParseKind(open, Open) = %+v, %v", c, err)
	}
	for _, k := range []Kind{Click, Unsubscribe, WebView} {
		if _, err := s.ParseKind(open, k); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("an open token accepted as %s: %v", k, err)
		}
	}
	if _, err := s.ParseKind("garbage", Open); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ParseKind(garbage) = %v", err)
	}
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	for _, key := range [][]byte{nil, {}, []byte("fifteen bytes!!")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSigner(%d-byte key) did not panic", len(key))
				}
			}()
			NewSigner(key)
		}()
	}
	NewSigner([]byte("sixteen bytes!!!"))
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Open: "open", Click: "click", Unsubscribe: "unsubscribe", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", byte(k), got, want)
		}
	}
}
