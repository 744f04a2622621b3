package bounce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// VERPPrefix opens the local part of every VERP address, before the token.
const VERPPrefix = "bounce+"

const (
	idLen    = 8  // big-endian recipient id
	macLen   = 8  // truncated HMAC-SHA256
	tokenLen = 26 // base32 characters for idLen+macLen bytes, unpadded
	// macDomain separates this use of the key from any other HMAC made with it.
	macDomain = "gatewayd/verp/v1\x00"
)

// ErrInvalidToken reports a VERP token that is malformed, was made under
// another key, or was altered.
var ErrInvalidToken = errors.New("bounce: invalid VERP token")

// tokenEncoding is lowercase base32 without padding: only [a-z2-7], so a token
// survives MTAs that fold the case of local parts.
func tokenEncoding() *base32.Encoding {
	return base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
}

func tokenMAC(key []byte, id []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macDomain))
	m.Write(id)
	return m.Sum(nil)[:macLen]
}

// NewToken returns the token for recipientID under key: 26 characters of
// lowercase base32 (no padding) of the 8-byte big-endian id followed by the
// first 8 bytes of HMAC-SHA256(key, id). The key should be at least 32 random
// bytes; a token made with an empty key is never accepted by ParseToken.
func NewToken(key []byte, recipientID int64) string {
	buf := make([]byte, idLen, idLen+macLen)
	binary.BigEndian.PutUint64(buf, uint64(recipientID))
	buf = append(buf, tokenMAC(key, buf)...)
	return tokenEncoding().EncodeToString(buf)
}

// ParseToken returns the recipient id a token was made for. The token is
// read case-insensitively. It fails with an error wrapping ErrInvalidToken
// when the token is not one NewToken made under key: wrong length or alphabet,
// a non-canonical encoding, a MAC mismatch (tampering or another key), or an
// empty key.
func ParseToken(key []byte, token string) (recipientID int64, err error) {
	if len(key) == 0 {
		return 0, fmt.Errorf("%w: empty key", ErrInvalidToken)
	}
	if len(token) != tokenLen {
		return 0, fmt.Errorf("%w: length %d, want %d", ErrInvalidToken, len(token), tokenLen)
	}
	lower := strings.ToLower(token)
	enc := tokenEncoding()
	buf, err := enc.DecodeString(lower)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// The last character carries two unused bits; refuse any spelling other
	// than the canonical one so that every changed character is detected.
	if len(buf) != idLen+macLen || enc.EncodeToString(buf) != lower {
		return 0, fmt.Errorf("%w: non-canonical encoding", ErrInvalidToken)
	}
	if !hmac.Equal(buf[idLen:], tokenMAC(key, buf[:idLen])) {
		return 0, fmt.Errorf("%w: signature mismatch", ErrInvalidToken)
	}
	return int64(binary.BigEndian.Uint64(buf[:idLen])), nil
}

// VERPAddress returns the envelope sender for the message to recipientID:
// "bounce+<token>@<domain>", with the domain lowercased and any trailing dot
// removed.
func VERPAddress(key []byte, recipientID int64, returnPathDomain string) string {
	return VERPPrefix + NewToken(key, recipientID) + "@" + normalizeDomain(returnPathDomain)
}

// ParseVERP reports whether addr is a VERP address made under key and, if so,
// the recipient id and the (lowercased) domain it was sent to. It accepts any
// case, surrounding spaces and angle brackets ("<bounce+...@d>"). ok is false
// for any address that is not ours: another local part, a bad token, or no
// domain.
func ParseVERP(key []byte, addr string) (recipientID int64, domain string, ok bool) {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return 0, "", false
	}
	local, domain := addr[:at], normalizeDomain(addr[at+1:])
	if domain == "" || len(local) <= len(VERPPrefix) || !strings.EqualFold(local[:len(VERPPrefix)], VERPPrefix) {
		return 0, "", false
	}
	id, err := ParseToken(key, local[len(VERPPrefix):])
	if err != nil {
		return 0, "", false
	}
	return id, domain, true
}

func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}
