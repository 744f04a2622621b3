package commands

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Idempotency of sends (POST /api/v1/email, emailgateway.sendemail, POST /rest/email).
//
// A request carrying an Idempotency-Key header (or an IdempotencyKey parameter) is run at most
// once per sender API key and key value for 24 hours:
//
//  1. The key is reserved first (a row with status 0 and the hash of the request).
//  2. A repeat finds the row: a different request hash is a conflict; a stored answer is
//     replayed byte for byte; a reservation still in progress is waited for (up to
//     idemWait) and then taken over.
//  3. The messages of a keyed request get UUIDs derived from (sender key, key, request hash,
//     index) under a server subkey, and messages.uuid is unique: a takeover, a concurrent
//     duplicate or a retry after a crash or a partial failure finds the messages already
//     committed instead of committing them again. Nothing is ever sent twice.
//  4. A success stores the answer; a failure (nothing new was sent) releases the key so the
//     corrected or repeated request runs again.

// idemWait is how long a repeat waits for the first request with its key to finish before
// taking over.
var idemWait = 5 * time.Second

// Idempotency row states (idempotency_keys.status).
const (
	idemInProgress = 0
	idemAnswered   = 200
)

// idemCall is one keyed request.
type idemCall struct {
	scope, key, hash string
	seed             []byte // subkey for the derived message UUIDs
}

// idemErrors builds a surface's errors for an invalid key and a conflicting reuse.
type idemErrors struct {
	badKey   func(msg string) error
	conflict func(msg string) error
}

// idempotencyKey returns the request's key: the Idempotency-Key header, else the
// IdempotencyKey parameter.
func idempotencyKey(req *dispatcher.Request) string {
	if req.Meta.Header != nil {
		if k := strings.TrimSpace(req.Meta.Header.Get("Idempotency-Key")); k != "" {
			return k
		}
	}
	return strings.TrimSpace(req.Params.String("IdempotencyKey"))
}

// validIdempotencyKey accepts 1-255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idemExcluded are parameters that do not make a request different: credentials, the
// command name, the answer format and the key itself.
var idemExcluded = map[string]bool{
	"command": true, "senderapikey": true, "apikey": true, "sessionid": true, "adminapikey": true,
	"responseformat": true, "idempotencykey": true, "token": true,
}

// requestHash is the hex SHA-256 of the command name and the request's parameters in a
// canonical form (names lower-cased at every depth, PHP-style indexed objects as arrays,
// object keys sorted), so the same request sent as JSON or as a form hashes alike.
func requestHash(command string, p dispatcher.Params) string {
	top := map[string]any{}
	for k, v := range p.Tree() {
		if !idemExcluded[strings.ToLower(k)] {
			top[k] = v
		}
	}
	b, _ := json.Marshal(canonicalParams(dispatcher.Normalize(top)))
	sum := sha256.Sum256(append([]byte(strings.ToLower(command)+"\x00"), b...))
	return hex.EncodeToString(sum[:])
}

func canonicalParams(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[strings.ToLower(k)] = canonicalParams(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = canonicalParams(x)
		}
		return out
	}
	return v
}

// messageUUID is the UUID of the i-th message of a keyed request: an HMAC of the key's scope,
// value and request hash, laid out as a version 8 (custom) UUID.
func (ic *idemCall) messageUUID(i int) string {
	m := hmac.New(sha256.New, ic.seed)
	m.Write([]byte(ic.scope + "\x00" + ic.key + "\x00" + ic.hash + "\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	m.Write(n[:])
	var u uuid.UUID
	copy(u[:], m.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x80 // version 8
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant
	return u.String()
}

// newMessageUUID is the UUID of the i-th message of a request: derived when it is keyed,
// random otherwise.
func (ic *idemCall) newMessageUUID(i int) string {
	if ic == nil {
		return uuid.NewString()
	}
	return ic.messageUUID(i)
}

// idempotent runs send once per Idempotency-Key (see above); without a key it just runs it.
// send returns the answer as the JSON object every surface renders.
func (a *App) idempotent(ctx context.Context, req *dispatcher.Request, errs idemErrors,
	send func(ic *idemCall) (json.RawMessage, error)) (any, error) {
	key := idempotencyKey(req)
	if key == "" {
		return send(nil)
	}
	if !validIdempotencyKey(key) {
		return nil, errs.badKey("Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	ic := &idemCall{
		scope: "send:" + strconv.FormatInt(req.Principal.KeyID, 10),
		key:   key,
		hash:  requestHash(req.Command.Name, req.Params),
		seed:  a.Keys.Subkey("idempotency"),
	}
	replay, err := a.idemReserve(ctx, ic, errs)
	if err != nil {
		return nil, err
	}
	if replay != nil {
		return replay, nil
	}
	res, err := send(ic)
	if err != nil {
		// Nothing new was committed (or what was is found again by its UUID on a retry):
		// forget the reservation so the request can run again.
		if rerr := a.DB.IdempotentRelease(context.WithoutCancel(ctx), ic.scope, ic.key, ic.hash); rerr != nil {
			a.Log.WarnContext(ctx, "idempotency release", "err", rerr)
		}
		return nil, err
	}
	ans := &storage.IdempotentResponse{RequestHash: ic.hash, Status: idemAnswered, Response: res}
	if err := a.DB.IdempotentComplete(context.WithoutCancel(ctx), ic.scope, ic.key, ans); err != nil {
		// The messages are committed; a repeat takes the reservation over and finds them.
		a.Log.WarnContext(ctx, "idempotency store", "err", err)
	}
	return res, nil
}

// idemReserve reserves ic's key. It returns the stored answer of an earlier identical
// request, a conflict error, or (nil, nil) when this request is to run.
func (a *App) idemReserve(ctx context.Context, ic *idemCall, errs idemErrors) (json.RawMessage, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		err := a.DB.IdempotentStore(ctx, ic.scope, ic.key,
			&storage.IdempotentResponse{RequestHash: ic.hash, Status: idemInProgress, Response: []byte{}})
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, storage.ErrDuplicate) {
			// MySQL picks one of several inserts racing for a key as a deadlock victim:
			// pause, then see whether another reserved it.
			lastErr = err
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
			}
		}
		deadline := time.Now().Add(idemWait)
		pause := 10 * time.Millisecond
		for {
			r, err := a.DB.IdempotentLookup(ctx, ic.scope, ic.key)
			if isNotFound(err) {
				break // released or expired meanwhile: reserve again
			}
			if err != nil {
				return nil, fmt.Errorf("idempotency lookup: %w", err)
			}
			if r.RequestHash != ic.hash {
				return nil, errs.conflict("Idempotency-Key was already used for a different request")
			}
			if r.Status != idemInProgress {
				return json.RawMessage(r.Response), nil
			}
			if time.Now().After(deadline) {
				// The first request is gone or stuck: run again. Its messages, if it
				// committed any, carry the same derived UUIDs and are found, not resent.
				return nil, nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
			pause = min(2*pause, 200*time.Millisecond)
		}
	}
	if lastErr == nil {
		lastErr = errors.New("the key keeps changing")
	}
	return nil, fmt.Errorf("idempotency reserve: %w", lastErr)
}

// acceptOnce is Accept for the API sends. A message whose UUID is already committed (by an
// earlier run of the same keyed request) is returned instead of being accepted again. A
// storage failure (a MySQL deadlock against delivery workers, a lost connection) is retried
// twice with the same UUID: a failed commit stored nothing, and an ambiguous one is found by
// its UUID, which the database keeps unique.
func (a *App) acceptOnce(ctx context.Context, ic *idemCall, s *Submission) (*storage.Message, error) {
	if s.UUID == "" {
		s.UUID = uuid.NewString()
	}
	if ic != nil {
		if m, err := a.DB.MessageByUUID(ctx, s.UUID, s.User.ID); err == nil {
			return m, nil
		} else if !isNotFound(err) {
			return nil, err
		}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var m *storage.Message
		if m, err = a.Accept(ctx, s); err == nil {
			return m, nil
		}
		if refusal(err) {
			return nil, err
		}
		// Committed after all (by a concurrent run of the same request, or a commit whose
		// answer was lost)?
		if prev, perr := a.DB.MessageByUUID(ctx, s.UUID, s.User.ID); perr == nil {
			return prev, nil
		}
		a.Log.WarnContext(ctx, "accept failed; retrying", "uuid", s.UUID, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(20*(attempt+1)+rand.IntN(20)) * time.Millisecond):
		}
	}
	return nil, err
}

// refusal reports Accept's answers about the sender and recipients, as opposed to failures.
func refusal(err error) bool {
	var sup *SuppressedError
	return errors.Is(err, ErrAccountDisabled) || errors.Is(err, ErrAccountUnverified) ||
		errors.Is(err, ErrAccountUntrusted) || errors.Is(err, ErrDomainNotEnabled) ||
		errors.Is(err, ErrMonthlyLimit) || errors.Is(err, ErrNoRecipients) || errors.As(err, &sup)
}
