package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// clients is the sending side of `loadgen soak` and `loadgen cluster`: one-recipient messages
// over HTTP and SMTP to the node pick names, and what every client was told. A failed request
// is not retried (the next send is a new message), so only acknowledged mail is counted.
type clients struct {
	name      string // recipients are <name>-h<n>@dest.test (HTTP) and <name>-s<n>@dest.test (SMTP)
	from, key string // envelope sender and sender API key
	pick      func() *soak
	rotate    int // SMTP messages on one connection before moving to the next node; 0: keep it
	sink      *Sink

	ackMu sync.Mutex
	acked map[string]string // recipient address -> surface (http, smtp)
	tried atomic.Int64
}

func newClients(name, from, key string, sink *Sink, pick func() *soak) *clients {
	return &clients{name: name, from: from, key: key, sink: sink, pick: pick, acked: map[string]string{}}
}

func (c *clients) ack(addr, surface string) {
	c.ackMu.Lock()
	c.acked[strings.ToLower(addr)] = surface
	c.ackMu.Unlock()
}

// counts returns the acknowledgements by surface.
func (c *clients) counts() (http, smtp int) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	for _, v := range c.acked {
		if v == "http" {
			http++
		} else {
			smtp++
		}
	}
	return http, smtp
}

// httpSender posts one-recipient sends to /api/v1/email; a 200 with a MessageID is an
// acknowledgement.
func (c *clients) httpSender(tokens <-chan struct{}, seq *atomic.Int64) {
	client := &http.Client{Timeout: 15 * time.Second}
	for range tokens {
		to := fmt.Sprintf("%s-h%d@dest.test", c.name, seq.Add(1))
		c.tried.Add(1)
		body, _ := json.Marshal(map[string]any{
			"Subject": c.name + " " + to, "ContentType": "plain", "PlainContent": c.name + " test message\n",
			"From": map[string]any{"email": c.from}, "To": []any{map[string]any{"email": to}},
		})
		req, _ := http.NewRequest("POST", "http://"+c.pick().httpAddr+"/api/v1/email", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var ok struct{ MessageID string }
		json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&ok)
		r.Body.Close()
		if r.StatusCode == 200 && ok.MessageID != "" {
			c.ack(to, "http")
		}
	}
}

// smtpSender submits one-recipient messages over SMTP (relaying from 127.0.0.1 without
// AUTH), reusing its connection; the 250 after DATA is the acknowledgement.
func (c *clients) smtpSender(tokens <-chan struct{}, seq *atomic.Int64) {
	var cl *smtp.Client
	sent := 0
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for range tokens {
		to := fmt.Sprintf("%s-s%d@dest.test", c.name, seq.Add(1))
		c.tried.Add(1)
		if cl != nil && c.rotate > 0 && sent >= c.rotate {
			cl.Quit()
			cl, sent = nil, 0
		}
		if cl == nil {
			conn, err := net.DialTimeout("tcp", c.pick().smtpAddr, 5*time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			cl = smtp.NewClient(conn)
			cl.CommandTimeout, cl.SubmissionTimeout = 15*time.Second, 15*time.Second
			if err := cl.Hello("client." + c.name + ".test"); err != nil {
				cl.Close()
				cl = nil
				continue
			}
		}
		if err := sendOne(cl, c.from, to); err != nil {
			cl.Close()
			cl = nil
			continue
		}
		sent++
		c.ack(to, "smtp")
	}
}

// waitDelivered waits until every acknowledged address has arrived at the sink, and returns
// those that did not within d, and when the last of the others arrived (as near as the
// polling tells).
func (c *clients) waitDelivered(d time.Duration) ([]string, time.Time) {
	deadline := time.Now().Add(d)
	last, said := time.Now(), time.Now()
	prev := -1
	for {
		var lost []string
		c.ackMu.Lock()
		for a := range c.acked {
			if c.sink.Seen(a) == 0 {
				lost = append(lost, a)
			}
		}
		total := len(c.acked)
		c.ackMu.Unlock()
		if u := c.sink.Stats().Unique; u != prev {
			prev, last = u, time.Now()
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			return lost, last
		}
		if time.Since(said) > 5*time.Second {
			fmt.Printf("%s: waiting for %d of %d acknowledged messages\n", c.name, len(lost), total)
			said = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
}
