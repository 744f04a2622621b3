package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// Sink is an SMTP server that counts every recipient of every message it accepts (after
// DATA), remembers how often each address arrived, and can refuse (4xx at RCPT) or hold
// deliveries (no greeting for new connections, no answer to MAIL on open ones) on request.
type Sink struct {
	Addr string

	mu       sync.Mutex
	seen     map[string]int
	arrivals map[string][]Arrival // every arrival of every address, in order
	messages int
	rcpts    int
	signed   int
	refuse   time.Time     // refuse with 451 until then
	hold     chan struct{} // non-nil: new connections wait until it is closed
	delay    time.Duration // pause before answering DATA
	srv      *smtp.Server
	ln       net.Listener
}

// Arrival is one delivery of an address: when the sink accepted it and the name the
// delivering gatewayd gave in EHLO (its GATEWAY_HOSTNAME).
type Arrival struct {
	At   time.Time
	Helo string
}

// SinkStats are the sink's counts.
type SinkStats struct {
	Messages   int `json:"messages"`
	Recipients int `json:"recipients"`
	Unique     int `json:"unique"`
	Duplicates int `json:"duplicates"`
	Signed     int `json:"signed"` // messages whose header has a DKIM-Signature field
}

// StartSink listens on addr (127.0.0.1:0 for any port).
func StartSink(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: ln.Addr().String(), seen: map[string]int{}, arrivals: map[string][]Arrival{}}
	s.ln = &holdListener{Listener: ln, s: s}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s, c: c}, nil }))
	s.srv.Domain = "sink.loadgen.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 2*time.Minute, 2*time.Minute
	s.srv.MaxRecipients = 1000
	s.srv.MaxMessageBytes = 64 << 20
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // clients that vanish mid-session are the point of a crash test
	go s.srv.Serve(s.ln)
	return s, nil
}

// Close stops the sink.
func (s *Sink) Close() error {
	s.Hold(false)
	return s.srv.Close()
}

// Stats returns the counts so far.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SinkStats{Messages: s.messages, Recipients: s.rcpts, Unique: len(s.seen), Signed: s.signed}
	for _, n := range s.seen {
		st.Duplicates += n - 1
	}
	return st
}

// Seen returns how often addr arrived.
func (s *Sink) Seen(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[strings.ToLower(addr)]
}

// Repeated returns the arrivals of every address that arrived more than once.
func (s *Sink) Repeated() map[string][]Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]Arrival{}
	for a, arr := range s.arrivals {
		if len(arr) > 1 {
			out[a] = append([]Arrival(nil), arr...)
		}
	}
	return out
}

// Reset forgets everything counted.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen, s.arrivals, s.messages, s.rcpts, s.signed = map[string]int{}, map[string][]Arrival{}, 0, 0, 0
}

// Refuse answers 451 at RCPT for d (0 stops refusing).
func (s *Sink) Refuse(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = time.Now().Add(d)
}

// Delay pauses every DATA answer by d (a slow next hop).
func (s *Sink) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hold makes new connections wait for their greeting, and open ones at their next MAIL,
// until Hold(false).
func (s *Sink) Hold(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.hold == nil:
		s.hold = make(chan struct{})
	case !on && s.hold != nil:
		close(s.hold)
		s.hold = nil
	}
}

type holdListener struct {
	net.Listener
	s *Sink
}

func (l *holdListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	l.s.mu.Lock()
	h := l.s.hold
	l.s.mu.Unlock()
	if h != nil {
		<-h
	}
	return c, nil
}

type sinkSession struct {
	s  *Sink
	c  *smtp.Conn
	to []string
}

func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }

// Mail waits while the sink holds: connections opened before the hold (a client's pool) stall
// at their next transaction, so nothing at all is delivered while the sink holds.
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	ss.s.mu.Lock()
	h := ss.s.hold
	ss.s.mu.Unlock()
	if h != nil {
		<-h
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refusing := time.Now().Before(ss.s.refuse)
	ss.s.mu.Unlock()
	if refusing {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "sink refusing for a while"}
	}
	ss.to = append(ss.to, strings.ToLower(to))
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	br := bufio.NewReader(r)
	signed := false
	for {
		line, err := br.ReadSlice('\n')
		if len(bytes.TrimSpace(line)) == 0 || err != nil {
			break // the end of the header
		}
		if len(line) >= 15 && strings.EqualFold(string(line[:15]), "DKIM-Signature:") {
			signed = true
		}
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	ss.s.mu.Lock()
	d := ss.s.delay
	ss.s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	now, helo := time.Now(), ss.c.Hostname()
	ss.s.mu.Lock()
	ss.s.messages++
	if signed {
		ss.s.signed++
	}
	for _, to := range ss.to {
		ss.s.seen[to]++
		ss.s.arrivals[to] = append(ss.s.arrivals[to], Arrival{At: now, Helo: helo})
		ss.s.rcpts++
	}
	ss.s.mu.Unlock()
	return nil
}

// ControlHandler serves the sink's control port: GET /stats, POST /reset,
// POST /refuse?for=10s, POST /hold?on=1|0, POST /delay?d=50ms.
func (s *Sink) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(s.Stats())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) { s.Reset() })
	mux.HandleFunc("POST /refuse", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("for"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.Refuse(d)
	})
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, r *http.Request) { s.Hold(r.URL.Query().Get("on") == "1") })
	mux.HandleFunc("POST /delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.Delay(d)
	})
	return mux
}

// cmdSink runs a sink until SIGTERM/SIGINT or until its standard input closes (so a script's
// sink never outlives the script). It prints "smtp=ADDR control=ADDR" once listening.
func cmdSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "SMTP listen address")
	control := fs.String("control", "127.0.0.1:0", "control HTTP listen address")
	stdin := fs.Bool("stdin", false, "exit when standard input closes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !loopback(*listen) || !loopback(*control) {
		return errors.New("sink: listen on 127.0.0.1 only")
	}
	s, err := StartSink(*listen)
	if err != nil {
		return err
	}
	defer s.Close()
	cl, err := net.Listen("tcp", *control)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(cl)
	defer hs.Close()
	fmt.Printf("smtp=%s control=%s\n", s.Addr, cl.Addr())
	os.Stdout.Sync()
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	if *stdin {
		go func() {
			io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			done <- syscall.SIGTERM
		}()
	}
	<-done
	return nil
}

func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
