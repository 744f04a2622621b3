package apptest

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"gatewayd/storage"
)

// QueueRows puts one message with a recipient in each given state into a domain's queue
// (without sending anything), the deferred ones due in an hour.
func (e *Env) QueueRows(domainID int64, states ...string) []*storage.Recipient {
	e.T.Helper()
	ctx := context.Background()
	d, err := e.Server.DB.DomainByID(ctx, domainID, 0)
	if err != nil {
		e.T.Fatalf("queue rows: domain %d: %v", domainID, err)
	}
	now := time.Now().Unix()
	m := &storage.Message{UUID: uuid.NewString(), DomainID: d.ID, UserID: d.UserID, Source: "api", MailFrom: "a@" + d.Name,
		Subject: "s", Tags: "[]", Raw: []byte("Subject: s\r\n\r\nbody\r\n"), CreatedAt: now}
	var rs []*storage.Recipient
	for i, s := range states {
		next := now
		if s == storage.StateDeferred {
			next = now + 3600
		}
		rs = append(rs, &storage.Recipient{Email: fmt.Sprintf("r%d@example.net", i), State: s, NextAttemptAt: next})
	}
	if err := e.Server.DB.ImportMessage(ctx, m, rs); err != nil {
		e.T.Fatal(err)
	}
	return rs
}
