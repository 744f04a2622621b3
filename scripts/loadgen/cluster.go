package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clusterRun is `loadgen cluster`: several gatewayd nodes (one per -db) sharing one database
// (a Galera cluster, or one server), HTTP and SMTP load spread over them as a load balancer
// would, and the faults of a cluster: a node SIGKILLed (and started again, as a supervisor
// would), a database node stopped and started, a node restarted gracefully.
type clusterRun struct {
	nodes []*soak
	*clients
	next atomic.Int64 // round robin over the nodes

	mu     sync.Mutex
	events []faultEvent // the faults as they happened
}

// faultEvent is one fault of the run and whom it could have made send a message twice: a
// message taken over after its lease ran out, whose send before was by node helo ("": any
// node) at a time in [from-lease, to], is put down to it.
type faultEvent struct {
	name     string
	helo     string
	from, to time.Time
}

func (c *clusterRun) event(e faultEvent) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// dupCause is the duplicates put down to one cause, with an example.
type dupCause struct {
	Cause   string  `json:"cause"`
	Count   int     `json:"count"`
	Example string  `json:"example,omitempty"`
	MinGap  float64 `json:"min_gap_s"` // shortest time between two arrivals of one address
}

// heldCause is a message sent again although no node took it over from a lease that had run
// out: sent twice while its lease held (two nodes holding one row at once) or given back
// after it was sent. Exactly-once promises it cannot happen.
const heldCause = "while leases hold (sent again with no lease taken over)"

// takeoverLine is the log line of a node claiming rows whose lease had run out.
const takeoverLine = "delivery: lease ran out, sending again"

// takeovers counts, per recipient address, how often a node logged taking it over after its
// lease ran out (the nodes' JSON logs).
func (c *clusterRun) takeovers() (map[string]int, error) {
	out := map[string]int{}
	for _, n := range c.nodes {
		f, err := os.Open(n.log.Name())
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for sc.Scan() {
			if !bytes.Contains(sc.Bytes(), []byte(takeoverLine)) {
				continue
			}
			var l struct {
				Msg        string   `json:"msg"`
				Recipients []string `json:"recipients"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != takeoverLine {
				continue
			}
			for _, r := range l.Recipients {
				out[strings.ToLower(r)]++
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// attribute puts every repeated arrival at the sink down to what explains it. The nodes log
// every row they take over after its lease ran out: an address that arrived k more times
// than once but was taken over fewer than k times was sent again while a lease held (or
// given back after being sent), whatever the timing. Each redelivery that a takeover
// explains is put down to the first fault whose node and time window fit the send before
// it, or to none (a lease that lapsed on a live node: an outcome commit slower than the
// lease).
func (c *clusterRun) attribute(t0 time.Time, lease time.Duration, repeated map[string][]Arrival, taken map[string]int) []dupCause {
	c.mu.Lock()
	events := append([]faultEvent(nil), c.events...)
	c.mu.Unlock()
	causes := []dupCause{{Cause: heldCause}}
	for _, e := range events {
		causes = append(causes, dupCause{Cause: fmt.Sprintf("%s (%.1f-%.1fs)", e.name, e.from.Sub(t0).Seconds(), e.to.Sub(t0).Seconds())})
	}
	causes = append(causes, dupCause{Cause: "lease ran out on a live node (no fault)"})
	addrs := make([]string, 0, len(repeated))
	for a := range repeated {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		arr := repeated[a]
		for k := 1; k < len(arr); k++ {
			prev, cur := arr[k-1], arr[k]
			gap := cur.At.Sub(prev.At)
			i := len(causes) - 1
			if k > taken[a] {
				i = 0
			} else {
				for j, e := range events {
					if (e.helo == "" || e.helo == prev.Helo) && !prev.At.Before(e.from.Add(-lease)) && !prev.At.After(e.to) {
						i = j + 1
						break
					}
				}
			}
			dc := &causes[i]
			if dc.Count == 0 || gap.Seconds() < dc.MinGap {
				dc.MinGap = gap.Seconds()
			}
			dc.Count++
			if dc.Example == "" {
				dc.Example = fmt.Sprintf("%s: %s at %.1fs, %s at %.1fs, taken over %d times", a, prev.Helo, prev.At.Sub(t0).Seconds(),
					cur.Helo, cur.At.Sub(t0).Seconds(), taken[a])
			}
		}
	}
	return causes
}

// ClusterResult is the summary line `loadgen cluster` prints last, as JSON.
type ClusterResult struct {
	Label        string     `json:"label"`
	Nodes        int        `json:"nodes"`
	Seconds      float64    `json:"seconds"`
	Tried        int64      `json:"tried"`
	Acknowledged int        `json:"acknowledged"`
	HTTP         int        `json:"http"`
	SMTP         int        `json:"smtp"`
	Delivered    int        `json:"delivered"`
	Duplicates   int        `json:"duplicates"`
	Lost         int        `json:"lost"`
	HeldDups     int        `json:"duplicates_while_leases_hold"`
	DupCauses    []dupCause `json:"duplicate_causes"`
	AckRate      float64    `json:"ack_rate"`      // acknowledged per second of load
	DeliverRate  float64    `json:"delivery_rate"` // distinct deliveries per second, load start to last arrival
}

func cmdCluster(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	bin := fs.String("gatewayd", "bin/gatewayd", "the gatewayd binary")
	var dbs headerFlags
	fs.Var(&dbs, "db", "GATEWAY_DB of one node (repeat: one gatewayd per -db, all the same database)")
	work := fs.String("work", "", "directory for the nodes' keys and logs (default: a temporary one)")
	dur := fs.Duration("d", 60*time.Second, "how long the load and the faults last")
	dbStop := fs.String("db-stop", "", "shell command that stops a database node (at 40% of the run; empty: none)")
	dbStart := fs.String("db-start", "", "shell command that starts it again")
	dbDown := fs.Duration("db-down", 10*time.Second, "how long the database node stays down")
	faults := fs.Bool("faults", true, "SIGKILL node 1 at 20% (started again 5 s later) and restart node 2 at 70%")
	httpClients := fs.Int("http-clients", 8, "concurrent HTTP senders")
	smtpClients := fs.Int("smtp-clients", 8, "concurrent SMTP senders")
	rate := fs.Int("rate", 0, "most sends per second in all (0: as fast as the nodes answer)")
	drain := fs.Duration("drain", 3*time.Minute, "how long to wait for the acknowledged mail to arrive")
	lease := fs.Duration("lease", 20*time.Second, "GATEWAY_DELIVERY_LEASE of the nodes")
	label := fs.String("label", "cluster", "name of the run in the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(dbs) == 0 {
		return errors.New("cluster: at least one -db is required")
	}
	if *work == "" {
		d, err := os.MkdirTemp("", "cluster")
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
	c := &clusterRun{}
	for i, db := range dbs {
		dir := filepath.Join(*work, fmt.Sprintf("node%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		n, err := newSoakNode(*bin, db, dir, sink.Addr, *lease, fmt.Sprintf("node%d.gateway.test", i+1))
		if err != nil {
			return err
		}
		defer n.log.Close()
		c.nodes = append(c.nodes, n)
	}
	// The nodes start together: one of them applies the migrations, under the lock row.
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.start() }()
		defer n.kill()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := c.nodes[0].setup(); err != nil {
		return err
	}
	c.clients = newClients("cl", "app@"+c.nodes[0].domain, c.nodes[0].senderKey, sink, c.roundRobin)
	c.rotate = 20 // a connection moves to the next node now and then, as through a load balancer
	fmt.Printf("cluster: %d gatewayd nodes, sink %s, %s of load\n", len(c.nodes), sink.Addr, *dur)
	for i, n := range c.nodes {
		fmt.Printf("cluster: node%d http %s smtp %s on %s\n", i+1, n.httpAddr, n.smtpAddr, redact(n.db))
	}

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	tokens := make(chan struct{})
	go func() {
		defer close(tokens)
		var tick <-chan time.Time
		if *rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(*rate))
			defer t.Stop()
			tick = t.C
		}
		for {
			if tick != nil {
				select {
				case <-ctx.Done():
					return
				case <-tick:
				}
			}
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t0 := time.Now()
	var seq atomic.Int64
	var senders sync.WaitGroup
	for i := 0; i < *httpClients; i++ {
		senders.Add(1)
		go func() { defer senders.Done(); c.httpSender(tokens, &seq) }()
	}
	for i := 0; i < *smtpClients; i++ {
		senders.Add(1)
		go func() { defer senders.Done(); c.smtpSender(tokens, &seq) }()
	}
	faultErr := c.faults(ctx, t0, *dur, *faults, *dbStop, *dbStart, *dbDown)
	senders.Wait()
	load := min(time.Since(t0), *dur)
	if faultErr != nil {
		return faultErr
	}
	for _, n := range c.nodes {
		if err := n.ensureUp(); err != nil {
			return err
		}
	}
	lost, lastArrival := c.waitDelivered(*drain)
	st := sink.Stats()
	res := ClusterResult{Label: *label, Nodes: len(c.nodes), Seconds: load.Seconds(), Tried: c.tried.Load(),
		Delivered: st.Unique, Duplicates: st.Duplicates, Lost: len(lost)}
	res.HTTP, res.SMTP = c.counts()
	res.Acknowledged = res.HTTP + res.SMTP
	res.AckRate = float64(res.Acknowledged) / load.Seconds()
	res.DeliverRate = float64(st.Unique) / lastArrival.Sub(t0).Seconds()
	fmt.Printf("cluster: %d sends tried, %d acknowledged (%d HTTP 200, %d SMTP 250) in %.0f s: %.0f/s\n",
		res.Tried, res.Acknowledged, res.HTTP, res.SMTP, res.Seconds, res.AckRate)
	fmt.Printf("cluster: sink got %d distinct messages (%.0f/s), %d duplicates; lost: %d\n", st.Unique, res.DeliverRate, st.Duplicates, len(lost))
	taken, err := c.takeovers()
	if err != nil {
		return err
	}
	res.DupCauses = c.attribute(t0, *lease, sink.Repeated(), taken)
	res.HeldDups = res.DupCauses[0].Count
	for _, dc := range res.DupCauses {
		fmt.Printf("cluster: duplicates %-70s %5d", dc.Cause, dc.Count)
		if dc.Count > 0 {
			fmt.Printf("  (shortest gap %.1fs; e.g. %s)", dc.MinGap, dc.Example)
		}
		fmt.Println()
	}
	var stopErr error
	for _, n := range c.nodes {
		stopErr = errors.Join(stopErr, n.stop())
	}
	b, _ := json.Marshal(res)
	fmt.Printf("cluster-result %s\n", b)
	if len(lost) > 0 {
		sort.Strings(lost)
		return fmt.Errorf("cluster: %d acknowledged messages never reached the sink, e.g. %v (logs in %s)", len(lost), lost[:min(len(lost), 10)], *work)
	}
	if res.Acknowledged == 0 {
		return errors.New("cluster: nothing was acknowledged")
	}
	return stopErr
}

// roundRobin is the node the next request goes to, skipping nodes not running.
func (c *clusterRun) roundRobin() *soak {
	for range c.nodes {
		n := c.nodes[int(c.next.Add(1))%len(c.nodes)]
		n.mu.Lock()
		up := n.cmd != nil
		n.mu.Unlock()
		if up {
			return n
		}
	}
	return c.nodes[0]
}

func (c *clusterRun) faults(ctx context.Context, t0 time.Time, dur time.Duration, nodeFaults bool, dbStop, dbStart string, dbDown time.Duration) error {
	at := func(f float64) time.Time { return t0.Add(time.Duration(f * float64(dur))) }
	say := func(format string, a ...any) {
		fmt.Printf("cluster: %5.1fs "+format+"\n", append([]any{time.Since(t0).Seconds()}, a...)...)
	}
	type step struct {
		when time.Time
		do   func() error
	}
	var steps []step
	if nodeFaults {
		steps = append(steps, step{at(0.2), func() error {
			say("node1 SIGKILLed")
			k := time.Now()
			c.nodes[0].kill()
			c.event(faultEvent{name: "node1 SIGKILLed", helo: c.nodes[0].hostname, from: k, to: time.Now().Add(time.Second)})
			c.nodes[0].kills++
			time.Sleep(5 * time.Second)
			c.nodes[0].restarts++
			err := c.nodes[0].start()
			say("node1 started again")
			return err
		}})
	}
	if dbStop != "" {
		steps = append(steps, step{at(0.4), func() error {
			say("database node stopped (%s)", dbStop)
			s := time.Now()
			if out, err := exec.Command("sh", "-c", dbStop).CombinedOutput(); err != nil {
				return fmt.Errorf("db-stop: %v: %s", err, out)
			}
			// The gatewayd whose own database node this is (listed first: the last one,
			// as the scripts give them) loses the commits in flight.
			own := c.nodes[len(c.nodes)-1].hostname
			c.event(faultEvent{name: "database node stopped, its gatewayd's commits cut off", helo: own, from: s, to: time.Now().Add(time.Second)})
			time.Sleep(dbDown)
			say("database node starting (%s)", dbStart)
			b := time.Now()
			out, err := exec.Command("sh", "-c", dbStart).CombinedOutput()
			c.event(faultEvent{name: "database node down or rejoining, any gatewayd", from: s, to: time.Now()})
			if err != nil {
				return fmt.Errorf("db-start: %v: %s", err, out)
			}
			say("database node back (synced %.1f s after its start)", time.Since(b).Seconds())
			return nil
		}})
	}
	if nodeFaults && len(c.nodes) > 1 {
		steps = append(steps, step{at(0.7), func() error {
			say("node2 restarting (SIGTERM, start)")
			r := time.Now()
			err := c.nodes[1].stop()
			c.event(faultEvent{name: "node2 restarted (SIGTERM)", helo: c.nodes[1].hostname, from: r, to: time.Now().Add(time.Second)})
			if err != nil {
				return err
			}
			c.nodes[1].restarts++
			err = c.nodes[1].start()
			say("node2 back")
			return err
		}})
	}
	// Each fault runs at its time, whether or not the one before has finished (a database
	// node can take a while to rejoin).
	var wg sync.WaitGroup
	errs := make([]error, len(steps))
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(s.when)):
			}
			errs[i] = s.do()
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return errors.Join(errs...)
}
