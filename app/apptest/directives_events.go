package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatewayd/storage"
)

// ParseTime reads a directive time: unix seconds, RFC 3339, or now, now-DURATION (Go's
// time.ParseDuration: now-90m, now-192h) for figures relative to the present.
func ParseTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if rest, ok := strings.CutPrefix(s, "now"); ok {
		var d time.Duration
		if rest != "" {
			var err error
			if d, err = time.ParseDuration(strings.TrimPrefix(rest, "-")); err != nil || rest[0] != '-' {
				return 0, fmt.Errorf("time %q: want now or now-DURATION", s)
			}
		}
		return time.Now().Add(-d).Unix(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want unix seconds or RFC 3339", s)
	}
	return t.Unix(), nil
}

// Message stores a message of domainID accepted at `at` with one accepted event per
// recipient, as if it had been sent then (ImportMessage + ImportEvents).
func (e *Env) Message(domainID int64, at int64, from string, to []string, tags []string, subject string) (*storage.Message, []*storage.Recipient, []*storage.Event) {
	e.T.Helper()
	ctx := context.Background()
	d, err := e.Server.DB.DomainByID(ctx, domainID, 0)
	if err != nil {
		e.T.Fatalf("message: domain %d: %v", domainID, err)
	}
	if tags == nil {
		tags = []string{}
	}
	tj, _ := json.Marshal(tags)
	m := &storage.Message{UUID: uuid.NewString(), DomainID: d.ID, UserID: d.UserID, Source: "api", MailFrom: from,
		Subject: subject, Tags: string(tj), Raw: []byte("Subject: " + subject + "\r\n\r\nbody\r\n"), CreatedAt: at}
	var rs []*storage.Recipient
	for _, t := range to {
		rs = append(rs, &storage.Recipient{Email: t, State: storage.StateDelivered, NextAttemptAt: at})
	}
	if err := e.Server.DB.ImportMessage(ctx, m, rs); err != nil {
		e.T.Fatal(err)
	}
	var evs []*storage.Event
	for _, r := range rs {
		evs = append(evs, &storage.Event{DomainID: d.ID, UserID: d.UserID, MessageID: m.ID, RecipientID: r.ID,
			Type: storage.EventAccepted, Email: r.Email, CreatedAt: at})
	}
	if err := e.Server.DB.ImportEvents(ctx, evs); err != nil {
		e.T.Fatal(err)
	}
	return m, rs, evs
}

func init() {
	// @message DOMAINVAR MSGVAR AT FROM TO[,TO...] [tags=a,b] [subject=rest of the line]
	// stores a message accepted at AT (unix or RFC 3339) with an accepted event per recipient;
	// sets MSGVAR (the MessageID), MSGVAR_id, MSGVAR_r0, MSGVAR_r1 ... (recipient row ids) and
	// MSGVAR_a0, MSGVAR_a1 ... (their accepted events' ids).
	Directives["message"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 5 {
			return fmt.Errorf("@message DOMAINVAR MSGVAR AT FROM TO[,TO...] [tags=a,b] [subject=...]")
		}
		domainID, _ := strconv.ParseInt(vars[args[0]], 10, 64)
		at, err := ParseTime(args[2])
		if err != nil {
			return err
		}
		var tags []string
		subject := ""
		for i := 5; i < len(args); i++ {
			switch k, v, _ := strings.Cut(args[i], "="); k {
			case "tags":
				tags = strings.Split(v, ",")
			case "subject":
				subject = strings.Join(append([]string{v}, args[i+1:]...), " ")
				i = len(args)
			default:
				return fmt.Errorf("@message: unknown %s", args[i])
			}
		}
		m, rs, evs := e.Message(domainID, at, args[3], strings.Split(args[4], ","), tags, subject)
		vars[args[1]] = m.UUID
		vars[args[1]+"_id"] = strconv.FormatInt(m.ID, 10)
		for i, r := range rs {
			vars[args[1]+"_r"+strconv.Itoa(i)] = strconv.FormatInt(r.ID, 10)
			vars[args[1]+"_a"+strconv.Itoa(i)] = strconv.FormatInt(evs[i].ID, 10)
		}
		return nil
	}
	// @rcpt MSGVAR RCPT STATE AT sets the state of recipient number RCPT of a @message, as if
	// it had changed at AT (updated_at): delivered 3 s after acceptance, bounced ...
	Directives["rcpt"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 4 {
			return fmt.Errorf("@rcpt MSGVAR RCPT STATE AT")
		}
		ctx := context.Background()
		i, err := strconv.Atoi(args[1])
		id, ok := vars[args[0]+"_r"+args[1]]
		if err != nil || i < 0 || !ok {
			return fmt.Errorf("@rcpt: message %s has no recipient %s", args[0], args[1])
		}
		at, err := ParseTime(args[3])
		if err != nil {
			return err
		}
		return e.Server.DB.Exec(ctx, "UPDATE recipients SET state = ?, updated_at = ? WHERE id = ?", args[2], at, id)
	}
	// @event MSGVAR RCPT TYPE AT [as=VAR] [code=N] [bot=1] [ip=..] [ua=..] [url=..] [details=rest of the line]
	// writes an event (canonical TYPE) for recipient number RCPT of a @message; as=VAR sets VAR
	// to the event's id.
	Directives["event"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 4 {
			return fmt.Errorf("@event MSGVAR RCPT TYPE AT [code=N] [bot=1] [url=..] [details=...]")
		}
		ctx := context.Background()
		m, err := e.Server.DB.MessageByUUID(ctx, vars[args[0]], 0)
		if err != nil {
			return fmt.Errorf("@event: message %s: %w", args[0], err)
		}
		rs, err := e.Server.DB.RecipientsOf(ctx, m.ID)
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(args[1])
		if err != nil || i < 0 || i >= len(rs) {
			return fmt.Errorf("@event: no recipient %s", args[1])
		}
		at, err := ParseTime(args[3])
		if err != nil {
			return err
		}
		ev := &storage.Event{DomainID: m.DomainID, UserID: m.UserID, MessageID: m.ID, RecipientID: rs[i].ID, Type: args[2],
			Email: rs[i].Email, CreatedAt: at}
		as := ""
		for j := 4; j < len(args); j++ {
			k, v, _ := strings.Cut(args[j], "=")
			switch k {
			case "as":
				as = v
			case "code":
				ev.Code, _ = strconv.Atoi(v)
			case "bot":
				ev.Bot = v == "1" || v == "true"
			case "ip":
				ev.IP = v
			case "ua":
				ev.UserAgent = v
			case "url":
				ev.URL = v
			case "details":
				ev.Details = strings.Join(append([]string{v}, args[j+1:]...), " ")
				j = len(args)
			default:
				return fmt.Errorf("@event: unknown %s", args[j])
			}
		}
		if err := e.Server.DB.ImportEvents(ctx, []*storage.Event{ev}); err != nil {
			return err
		}
		if as != "" {
			vars[as] = strconv.FormatInt(ev.ID, 10)
		}
		return nil
	}
}
