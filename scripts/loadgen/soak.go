package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// soak is one crash-test run: a gatewayd process under HTTP and SMTP load, the faults, and
// what every client was told.
type soak struct {
	bin, db, work string
	adminKey      string
	httpAddr      string
	smtpAddr      string
	env           []string
	sink          *Sink
	log           *os.File
	hostname      string // GATEWAY_HOSTNAME, the name it gives in EHLO

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	restarts int
	kills    int

	senderKey string
	domain    string
}

// cmdSoak runs the crash test and fails when an acknowledged message never reached the sink.
func cmdSoak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	bin := fs.String("gatewayd", "bin/gatewayd", "the gatewayd binary")
	db := fs.String("db", "", "GATEWAY_DB of the run (a fresh database)")
	work := fs.String("work", "", "directory for the server key and logs (default: a temporary one)")
	dur := fs.Duration("d", 60*time.Second, "how long the load and the faults last")
	killMin := fs.Duration("kill-min", 3*time.Second, "shortest time between two SIGKILLs (0: no kills)")
	killMax := fs.Duration("kill-max", 8*time.Second, "longest time between two SIGKILLs")
	refuse := fs.Duration("refuse", 10*time.Second, "how long the sink answers 4xx, a third into the run (0: never)")
	dbStop := fs.String("db-stop", "", "shell command that stops the database (run half way through; empty: no database restart)")
	dbStart := fs.String("db-start", "", "shell command that starts it again")
	dbDown := fs.Duration("db-down", 5*time.Second, "how long the database stays down")
	httpClients := fs.Int("http-clients", 4, "concurrent HTTP senders")
	smtpClients := fs.Int("smtp-clients", 4, "concurrent SMTP senders")
	rate := fs.Int("rate", 150, "most sends per second in all")
	drain := fs.Duration("drain", 3*time.Minute, "how long to wait for the acknowledged mail to arrive")
	lease := fs.Duration("lease", 8*time.Second, "GATEWAY_DELIVERY_LEASE of the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *db == "" {
		return errors.New("soak: -db is required")
	}
	if *work == "" {
		d, err := os.MkdirTemp("", "soak")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*work = d
	}
	sink, err := StartSink("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sink.Close()
	s, err := newSoakNode(*bin, *db, *work, sink.Addr, *lease, "soak.gateway.test")
	if err != nil {
		return err
	}
	logf := s.log
	defer logf.Close()
	s.sink = sink
	if err := s.start(); err != nil {
		return err
	}
	defer s.kill()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		s.kill()
		fmt.Fprintln(os.Stderr, "soak: interrupted")
		os.Exit(1)
	}()
	if err := s.setup(); err != nil {
		return err
	}
	cl := newClients("soak", "app@"+s.domain, s.senderKey, sink, func() *soak { return s })
	fmt.Printf("soak: gatewayd on %s (http %s, smtp %s), sink %s, %s of load\n", redact(*db), s.httpAddr, s.smtpAddr, sink.Addr, *dur)

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(max(*rate, 1)))
	defer tick.Stop()
	tokens := make(chan struct{})
	go func() {
		defer close(tokens)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var seq atomic.Int64
	for i := 0; i < *httpClients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); cl.httpSender(tokens, &seq) }()
	}
	for i := 0; i < *smtpClients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); cl.smtpSender(tokens, &seq) }()
	}
	faultErr := s.faults(ctx, *dur, *killMin, *killMax, *refuse, *dbStop, *dbStart, *dbDown)
	wg.Wait()
	if faultErr != nil {
		return faultErr
	}
	// The run ends with a live server: make sure one is up, then wait for the mail.
	if err := s.ensureUp(); err != nil {
		return err
	}
	lost, _ := cl.waitDelivered(*drain)
	st := sink.Stats()
	ah, as := cl.counts()
	unacked := st.Unique - (ah + as - len(lost))
	fmt.Printf("soak: %d sends tried, %d acknowledged (%d HTTP 200, %d SMTP 250); %d SIGKILLs, %d restarts\n",
		cl.tried.Load(), ah+as, ah, as, s.kills, s.restarts)
	fmt.Printf("soak: sink got %d distinct messages, %d duplicates (at-least-once redeliveries), %d that no client saw acknowledged; lost: %d\n",
		st.Unique, st.Duplicates, max(unacked, 0), len(lost))
	stopErr := s.stop()
	if len(lost) > 0 {
		sort.Strings(lost)
		return fmt.Errorf("soak: %d acknowledged messages never reached the sink, e.g. %v (log: %s)", len(lost), lost[:min(len(lost), 10)], logf.Name())
	}
	if stopErr != nil {
		return stopErr
	}
	if ah+as == 0 {
		return errors.New("soak: nothing was acknowledged")
	}
	return nil
}

// newSoakNode prepares one gatewayd node of a run (not started): its addresses, settings and
// log file (gatewayd.log under work).
func newSoakNode(bin, db, work, sinkAddr string, lease time.Duration, hostname string) (*soak, error) {
	logf, err := os.Create(filepath.Join(work, "gatewayd.log"))
	if err != nil {
		return nil, err
	}
	s := &soak{bin: bin, db: db, work: work, adminKey: "soak-admin-key", log: logf, hostname: hostname}
	s.httpAddr, s.smtpAddr = freeLoopback(), freeLoopback()
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + work,
		"GATEWAY_DB=" + db, "GATEWAY_HTTP_ADDR=" + s.httpAddr, "GATEWAY_SMTP_ADDR=" + s.smtpAddr,
		"GATEWAY_SECRET_KEY=" + strings.Repeat("5e", 32), "GATEWAY_SECRET_KEY_FILE=" + filepath.Join(work, "secret.key"),
		"GATEWAY_ADMIN_API_KEY=" + s.adminKey, "GATEWAY_DEFAULT_RELAY=smtp://" + sinkAddr,
		"GATEWAY_DNS_SERVER=127.0.0.1:9", "GATEWAY_HOSTNAME=" + hostname, "GATEWAY_LOG_LEVEL=warn",
		"GATEWAY_RATE_LIMIT=off", "GATEWAY_SMTP_RATE_LIMIT=off", "GATEWAY_SMTP_MAX_CONNECTIONS=1000",
		"GATEWAY_RETRY_MIN=1s", "GATEWAY_RETRY_MAX=4s", "GATEWAY_WORKERS=8",
		"GATEWAY_DELIVERY_LEASE=" + lease.String(),
	}
	return s, nil
}

func redact(dsn string) string {
	if i := strings.LastIndexByte(dsn, '@'); i > 0 {
		if j := strings.Index(dsn, "://"); j > 0 && strings.Contains(dsn[j+3:i], ":") {
			return dsn[:j+3] + "***" + dsn[i:]
		}
	}
	return dsn
}

func freeLoopback() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs gatewayd serve and waits for /healthz.
func (s *soak) start() error {
	s.mu.Lock()
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	// gatewayd dies with loadgen, however loadgen ends (a script interrupted, a timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("gatewayd exited at start (log %s)", s.log.Name())
		default:
		}
		if healthy(s.httpAddr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gatewayd did not answer /healthz within 90 s (log %s)", s.log.Name())
}

func healthy(addr string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	r, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == 200
}

// kill SIGKILLs the running gatewayd, if any, and waits for it.
func (s *soak) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop ends the run with SIGTERM: gatewayd must exit cleanly within 45 s.
func (s *soak) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if !cmd.ProcessState.Success() {
			return fmt.Errorf("gatewayd exited with %v after SIGTERM (log %s)", cmd.ProcessState, s.log.Name())
		}
		return nil
	case <-time.After(45 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		return fmt.Errorf("gatewayd did not stop within 45 s of SIGTERM (log %s)", s.log.Name())
	}
}

func (s *soak) ensureUp() error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running && healthy(s.httpAddr) {
		return nil
	}
	s.kill()
	s.restarts++
	return s.start()
}

// api posts a command to api.php and returns the decoded answer, failing unless Success.
func (s *soak) api(params map[string]any) (map[string]any, error) {
	b, _ := json.Marshal(params)
	r, err := http.Post("http://"+s.httpAddr+"/api.php", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, err
	}
	if m["Success"] != true {
		return m, fmt.Errorf("%v: %v", params["Command"], m)
	}
	return m, nil
}

// setup creates a tenant with an approved domain, a sender API key and an SMTP credential
// that relays for 127.0.0.1 without AUTH.
func (s *soak) setup() error {
	s.domain = "soak.example"
	if _, err := s.api(map[string]any{"Command": "user.create", "AdminAPIKey": s.adminKey, "RelUserGroupID": 1,
		"EmailAddress": "soak@users.test", "Username": "soak", "Password": "soak-password", "FirstName": "Soak",
		"TimeZone": "UTC", "Language": "en"}); err != nil {
		return err
	}
	m, err := s.api(map[string]any{"Command": "user.login", "Username": "soak", "Password": "soak-password"})
	if err != nil {
		return err
	}
	sess := m["SessionID"]
	if m, err = s.api(map[string]any{"Command": "emailgateway.adddomain", "SessionID": sess, "DomainName": s.domain}); err != nil {
		return err
	}
	id := fmt.Sprint(m["NewSenderDomainID"])
	out, err := exec.Command(s.bin, "domain", "approve", "--id", id, "--db", s.db).CombinedOutput()
	if err != nil {
		return fmt.Errorf("domain approve: %v: %s", err, out)
	}
	if m, err = s.api(map[string]any{"Command": "emailgateway.addapi", "SessionID": sess, "DomainID": id, "Description": "soak"}); err != nil {
		return err
	}
	key, _ := m["APIKey"].(map[string]any)
	s.senderKey, _ = key["APIKey"].(string)
	if s.senderKey == "" {
		return fmt.Errorf("addapi answered %v", m)
	}
	_, err = s.api(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": sess, "DomainID": id, "AllowedNetworks": "127.0.0.1/32"})
	return err
}

func sendOne(c *smtp.Client, from, to string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		c.Reset()
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: soak %s\r\nMessage-ID: <%s.soak@client.test>\r\n\r\nsoak test message\r\n",
		from, to, to, strings.ReplaceAll(to, "@", "."))
	return w.Close() // the reply to the final dot
}

// faults runs the schedule until ctx ends: SIGKILL and restart at random intervals, the sink
// refusing a third into the run, the database stopped and started half way.
func (s *soak) faults(ctx context.Context, dur, killMin, killMax, refuse time.Duration, dbStop, dbStart string, dbDown time.Duration) error {
	start := time.Now()
	refuseAt, dbAt := start.Add(dur/3), start.Add(dur/2)
	refused, dbDone := refuse == 0, dbStop == ""
	nextKill := time.Time{}
	if killMin > 0 {
		nextKill = start.Add(randDur(killMin, killMax))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		now := time.Now()
		if !refused && now.After(refuseAt) {
			refused = true
			fmt.Printf("soak: %5.1fs sink refuses (451) for %s\n", now.Sub(start).Seconds(), refuse)
			s.sink.Refuse(refuse)
		}
		if !dbDone && now.After(dbAt) {
			dbDone = true
			fmt.Printf("soak: %5.1fs database stopped for %s\n", now.Sub(start).Seconds(), dbDown)
			if out, err := exec.Command("sh", "-c", dbStop).CombinedOutput(); err != nil {
				return fmt.Errorf("db-stop: %v: %s", err, out)
			}
			time.Sleep(dbDown)
			if out, err := exec.Command("sh", "-c", dbStart).CombinedOutput(); err != nil {
				return fmt.Errorf("db-start: %v: %s", err, out)
			}
			fmt.Printf("soak: %5.1fs database started again\n", time.Since(start).Seconds())
			s.mu.Lock()
			exited := s.exited
			s.mu.Unlock()
			select {
			case <-exited:
				// A node may exit when its database goes away; it is restarted like after a kill.
				fmt.Printf("soak: gatewayd exited while the database was down; restarting\n")
				s.kill()
				s.restarts++
				if err := s.start(); err != nil {
					return err
				}
			default:
			}
		}
		if !nextKill.IsZero() && now.After(nextKill) {
			s.kill()
			s.kills++
			s.restarts++
			if err := s.start(); err != nil {
				return err
			}
			nextKill = time.Now().Add(randDur(killMin, killMax))
		}
	}
}

func randDur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rand.Int64N(int64(hi-lo)))
}
