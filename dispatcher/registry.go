// Package dispatcher is the one registry of commands and every HTTP surface that reaches them.
//
// A command is registered once, by name, with the credentials it accepts, the permission it
// needs, its parameters and its handler. A surface (api.php, /api/v1, Navixy, /api/v2,
// /messages, /rest/email) maps its routes to command names, decodes its own request form,
// gathers credentials, and renders the handler's result or typed error in its own envelope.
// Handlers never write HTTP and never see SQL; this package never touches storage directly
// (authentication goes through the Authenticator the commands provide).
package dispatcher

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Auth is the set of credential kinds a command accepts.
type Auth uint8

const (
	// AuthUser accepts a user's SessionID or user APIKey.
	AuthUser Auth = 1 << iota
	// AuthAdmin accepts the AdminAPIKey or an admin's SessionID.
	AuthAdmin
	// AuthSender accepts a domain's SenderAPIKey.
	AuthSender
	// AuthPublic needs no credential.
	AuthPublic
)

// Type is a parameter's type; values arriving as strings are coerced ("123" is an Int).
type Type uint8

const (
	String Type = iota
	Int
	Bool
	Object
	List
	Any
)

// Param declares one parameter. Code and Message are what a missing (or, for Int and Bool,
// unparsable) required value reports; an optional value of the wrong type reports the same.
type Param struct {
	Name     string
	Type     Type
	Required bool
	Code     int
	Message  string
}

// Handler runs a command: decoded parameters and the authenticated principal in, a result
// (marshalled by the surface) or an error (*Error for what a client may see) out.
type Handler func(ctx context.Context, req *Request) (any, error)

// Command is one registry entry.
type Command struct {
	Name       string
	Auth       Auth
	Permission string // checked for users; admins hold every permission
	Params     []Param
	// Check, when set, adds the issues a per-parameter declaration cannot express (one of two
	// parameters required); they are reported with the parameters' own, ordered by code.
	Check   func(Params) []Issue
	Handler Handler
	// LargeBody commands take content (messages, relay, imports, templates): their request
	// bodies may be up to GATEWAY_BODY_LIMIT; every other command's body is capped at
	// GATEWAY_SMALL_BODY_LIMIT.
	LargeBody bool
	// RateLimited commands spend a token of the caller's bucket (GATEWAY_RATE_LIMIT).
	RateLimited bool
	// RateGroup names the allowance a RateLimited command spends: each endpoint group (send,
	// events, webhooks, /rest/email ...) has its own allowance per credential, as each is
	// documented with its own "100 requests per 60 seconds". Empty: the command's name.
	RateGroup string
	// RateLimitMessage replaces "Too many requests" where a document words it otherwise.
	RateLimitMessage string
	// AuthMissing and AuthInvalid override the default authentication errors (99998), for
	// commands whose documents give their own codes (the v1 routes: 1 and 13).
	AuthMissing, AuthInvalid *Error
}

// Request is what a handler receives.
type Request struct {
	Command   *Command
	Principal *Principal
	Params    Params
	Meta      Meta
}

// Meta is what a surface knows about the call beyond its parameters.
type Meta struct {
	Surface   string
	RemoteIP  string
	Header    http.Header
	Received  time.Time
	RequestID string
}

// Registry maps command names, case-insensitively, to commands.
type Registry struct {
	cmds map[string]*Command
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{cmds: map[string]*Command{}} }

// Register adds c. A duplicate name is a programming error and panics.
func (r *Registry) Register(c *Command) {
	key := strings.ToLower(c.Name)
	if _, dup := r.cmds[key]; dup {
		panic(fmt.Sprintf("dispatcher: command %q registered twice", c.Name))
	}
	if c.Handler == nil || c.Auth == 0 {
		panic(fmt.Sprintf("dispatcher: command %q needs a handler and an Auth", c.Name))
	}
	r.cmds[key] = c
}

// Lookup finds a command by name, case-insensitively.
func (r *Registry) Lookup(name string) (*Command, bool) {
	c, ok := r.cmds[strings.ToLower(strings.TrimSpace(name))]
	return c, ok
}

// Names lists every registered command, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.cmds))
	for _, c := range r.cmds {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}
