package bounce

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var testKey = []byte("test-verp-key-0123456789abcdef01")

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func TestTokenRoundTrip(t *testing.T) {
	ids := []int64{0, 1, 2, 1042, 1 << 31, 1<<32 + 7, 1 << 53, math.MaxInt64, -1, math.MinInt64}
	seen := map[string]int64{}
	for _, id := range ids {
		tok := NewToken(testKey, id)
		if len(tok) != 26 {
			t.Errorf("NewToken(%d) = %q: length %d, want 26", id, tok, len(tok))
		}
		if strings.Trim(tok, tokenAlphabet) != "" {
			t.Errorf("NewToken(%d) = %q: characters outside lowercase base32", id, tok)
		}
		if prev, dup := seen[tok]; dup {
			t.Errorf("ids %d and %d share token %q", prev, id, tok)
		}
		seen[tok] = id
		got, err := ParseToken(testKey, tok)
		if err != nil || got != id {
			t.Errorf("ParseToken(NewToken(%d)) = %d, %v", id, got, err)
		}
		if again := NewToken(testKey, id); again != tok {
			t.Errorf("NewToken(%d) not deterministic: %q then %q", id, tok, again)
		}
	}
}

func TestTokenCaseInsensitive(t *testing.T) {
	tok := NewToken(testKey, 987654321)
	mixed := []byte(tok)
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = strings.ToUpper(string(mixed[i]))[0]
		}
	}
	for _, v := range []string{strings.ToUpper(tok), string(mixed)} {
		if got, err := ParseToken(testKey, v); err != nil || got != 987654321 {
			t.Errorf("ParseToken(%q) = %d, %v; want 987654321", v, got, err)
		}
	}
}

func TestTokenTamperingFails(t *testing.T) {
	for _, id := range []int64{0, 1, 77, math.MaxInt64} {
		tok := NewToken(testKey, id)
		for i := range len(tok) {
			// Every other character of the alphabet, plus characters base32
			// does not use at all.
			for _, c := range tokenAlphabet + "0189=-+_" {
				if byte(c) == tok[i] {
					continue
				}
				bad := tok[:i] + string(c) + tok[i+1:]
				if got, err := ParseToken(testKey, bad); err == nil {
					t.Fatalf("ParseToken(%q) (token %q, position %d changed) = %d, nil; want error", bad, tok, i, got)
				} else if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("ParseToken(%q) error %v does not wrap ErrInvalidToken", bad, err)
				}
			}
		}
	}
}

func TestTokenRejects(t *testing.T) {
	tok := NewToken(testKey, 5)
	cases := map[string]struct {
		key   []byte
		token string
	}{
		"wrong key":        {[]byte("another-key-0123456789abcdef0123"), tok},
		"key one byte off": {append([]byte("X"), testKey[1:]...), tok},
		"empty key":        {nil, NewToken(nil, 5)},
		"empty":            {testKey, ""},
		"short":            {testKey, tok[:25]},
		"long":             {testKey, tok + "a"},
		"padded":           {testKey, tok + "======"},
		"space":            {testKey, " " + tok[1:]},
		"non-ascii":        {testKey, "é" + tok[2:]},
	}
	for name, c := range cases {
		if got, err := ParseToken(c.key, c.token); err == nil {
			t.Errorf("%s: ParseToken(%q) = %d, nil; want error", name, c.token, got)
		} else if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: error %v does not wrap ErrInvalidToken", name, err)
		}
	}
}

func TestVERPAddress(t *testing.T) {
	addr := VERPAddress(testKey, 1042, "RP.Example.NET.")
	want := "bounce+" + NewToken(testKey, 1042) + "@rp.example.net"
	if addr != want {
		t.Fatalf("VERPAddress = %q, want %q", addr, want)
	}
	if len(addr[:strings.IndexByte(addr, '@')]) > 64 {
		t.Errorf("local part of %q longer than 64 octets", addr)
	}
}

func TestParseVERP(t *testing.T) {
	addr := VERPAddress(testKey, 31337, "rp.example.net")
	for _, v := range []string{
		addr,
		strings.ToUpper(addr),
		"<" + addr + ">",
		"  " + addr + "\t",
		strings.Replace(addr, "rp.example.net", "RP.example.net.", 1),
	} {
		id, domain, ok := ParseVERP(testKey, v)
		if !ok || id != 31337 || domain != "rp.example.net" {
			t.Errorf("ParseVERP(%q) = %d, %q, %v; want 31337, rp.example.net, true", v, id, domain, ok)
		}
	}

	tok := NewToken(testKey, 31337)
	for _, v := range []string{
		"",
		"someone@rp.example.net",
		"bounce@rp.example.net",
		"bounce+@rp.example.net",
		"bounces+" + tok + "@rp.example.net",
		"xbounce+" + tok + "@rp.example.net",
		"bounce+" + tok,
		"bounce+" + tok + "@",
		"bounce+" + tok + "x@rp.example.net",
		"bounce+" + NewToken([]byte("another-key-0123456789abcdef0123"), 31337) + "@rp.example.net",
	} {
		if id, domain, ok := ParseVERP(testKey, v); ok {
			t.Errorf("ParseVERP(%q) = %d, %q, true; want not ours", v, id, domain)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(NewToken(testKey, 0), int64(0))
	f.Add(NewToken(testKey, 1042), int64(1042))
	f.Add(strings.ToUpper(NewToken(testKey, math.MaxInt64)), int64(math.MaxInt64))
	f.Add("aaaaaaaaaacbfyj7qeffpgvyh4", int64(-1))
	f.Add("", int64(math.MinInt64))
	f.Add("0000000000000000000000000=", int64(7))
	f.Fuzz(func(t *testing.T, token string, id int64) {
		if got, err := ParseToken(testKey, token); err == nil {
			// Only the canonical spelling (in any case) of a token we made
			// is accepted.
			if canon := NewToken(testKey, got); canon != strings.ToLower(token) {
				t.Fatalf("ParseToken(%q) = %d, but NewToken(%d) = %q", token, got, got, canon)
			}
		} else if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("ParseToken(%q) error %v does not wrap ErrInvalidToken", token, err)
		}
		tok := NewToken(testKey, id)
		if got, err := ParseToken(testKey, tok); err != nil || got != id {
			t.Fatalf("ParseToken(NewToken(%d)) = %d, %v", id, got, err)
		}
		if got, _, ok := ParseVERP(testKey, VERPAddress(testKey, id, "rp.example.net")); !ok || got != id {
			t.Fatalf("ParseVERP(VERPAddress(%d)) = %d, %v", id, got, ok)
		}
	})
}
