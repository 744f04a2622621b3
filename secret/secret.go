// Package secret owns the server key and every secret gatewayd keeps: it encrypts what must be
// shown again (AES-GCM), hashes what is only checked (SHA-256), makes random tokens and compares
// them in constant time. It is a top-level package because storage, the commands and the relay
// all need it; it must not log or return key material.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Keyring holds the 32-byte server key.
type Keyring struct {
	key  [32]byte
	aead cipher.AEAD
}

// FromHex builds a keyring from 64 hex characters.
func FromHex(s string) (*Keyring, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("secret key: want 64 hex characters (32 bytes)")
	}
	return newKeyring(b)
}

// Load returns the keyring from hexKey, or else from the key file at path, creating that file
// (mode 0600) with a fresh key when it does not exist.
func Load(hexKey, path string) (*Keyring, error) {
	if hexKey != "" {
		return FromHex(hexKey)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return FromHex(string(b))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("key file directory: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return newKeyring(key)
}

func newKeyring(b []byte) (*Keyring, error) {
	k := &Keyring{}
	copy(k.key[:], b)
	block, err := aes.NewCipher(k.key[:])
	if err != nil {
		return nil, err
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return k, nil
}

// Encrypt seals plain under the server key: base64(nonce || ciphertext).
func (k *Keyring) Encrypt(plain []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, nil)), nil
}

// Decrypt opens what Encrypt sealed.
func (k *Keyring) Decrypt(sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < k.aead.NonceSize() {
		return nil, errors.New("decrypt: malformed ciphertext")
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return nil, errors.New("decrypt: authentication failed")
	}
	return plain, nil
}

// Subkey derives a key for one purpose ("tracking", "verp", ...), so no two uses share a key.
func (k *Keyring) Subkey(purpose string) []byte {
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte("gatewayd/" + purpose))
	return m.Sum(nil)
}

// Hash is the lookup form of a secret: hex SHA-256.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Token returns prefix followed by n random alphanumeric characters (about 5.95 bits each).
func Token(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails on supported platforms
	out := make([]byte, n)
	for i := range b {
		// Rejection-free mapping: 256 is not a multiple of 62, so draw again on the 8 biased values.
		for b[i] >= 248 {
			var one [1]byte
			rand.Read(one[:])
			b[i] = one[0]
		}
		out[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(out)
}

// HexToken returns 2n hex characters of randomness (session hashes look like this).
func HexToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
