package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/internal/testkit"
	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/secret"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// TestGaleraCluster runs gatewayd on a private three-node MariaDB Galera cluster
// (scripts/cluster.sh, on free loopback ports): two gatewayd nodes, each on its own Galera
// node with the third listed as failover (GATEWAY_DB=mysql://...@own,third/db), started
// together (one applies the migrations). 2,000 messages sent over both reach the sink
// exactly once, both nodes delivering. Then, with the next batch being delivered, node A's
// database node is stopped: A moves to the third node and the two finish every message;
// mail sent after the stop is acknowledged too. Last, a node that leaves sync (wsrep_desync)
// is reported unhealthy. It runs with the rest of the suite (make test installs the Galera
// provider through scripts/ensure-test-deps.sh) and fails when Galera is missing.
func TestGaleraCluster(t *testing.T) {
	if !galeraInstalled() {
		t.Fatal("the Galera provider (Debian: galera-4) is not installed: scripts/ensure-test-deps.sh galera")
	}
	total := 2000
	if v, err := strconv.Atoi(os.Getenv("CLUSTER_MESSAGES")); err == nil && v >= 100 {
		total = v
	}
	ports := startGalera(t)
	ctx := context.Background()
	host := func(i int) string { return "127.0.0.1:" + ports[i] }
	admin, err := storage.Open(ctx, "mysql://root@"+host(1)+"/mysql")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE gw CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	dsnA := "mysql://root@" + host(0) + "," + host(2) + "/gw"
	dsnB := "mysql://root@" + host(1) + "," + host(2) + "/gw"
	bin := testkit.BuildGatewayd(t)

	// Leases outlast an outcome's commit under certification conflicts on a loaded machine.
	lease := "GATEWAY_DELIVERY_LEASE=20s"
	// Both nodes start at once: the migrations run once, under the cluster-wide lock row.
	sink := startNodeSink(t)
	var a, b *gatewayNode
	done := make(chan struct{})
	go func() { defer close(done); a = startNode(t, bin, dsnA, "node-a.gateway.test", sink.addr, lease) }()
	b = startNode(t, bin, dsnB, "node-b.gateway.test", sink.addr, lease)
	<-done
	if a == nil {
		t.FailNow()
	}
	db, err := storage.Open(ctx, dsnB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.Galera() {
		t.Fatal("the cluster's nodes do not report wsrep_on")
	}
	f := deliverytest.New(t, db, deliverytest.Keys(t), "cluster", "twonodes.example")
	key := secret.Token("eg_live_", 32)
	if err := db.CreateDomainAPIKey(ctx, &storage.DomainAPIKey{DomainID: f.Domain.ID, UserID: f.User.ID, KeyHash: secret.Hash(key)}); err != nil {
		t.Fatal(err)
	}
	// Node A reads from another Galera node, which applies B's commits a moment later: a
	// causal read there (wsrep_sync_wait) returns once it has the key, as A's reads will.
	var keys int
	if err := storagetest.Raw(t, "mysql://root@"+host(0)+"/gw?wsrep_sync_wait=1").QueryRow(
		"SELECT COUNT(*) FROM domain_api_keys WHERE key_hash = ?", secret.Hash(key)).Scan(&keys); err != nil || keys != 1 {
		t.Fatalf("the key on node A's database node: %d rows, %v", keys, err)
	}
	nodes := []*gatewayNode{a, b}

	// Phase 1: both nodes, both database nodes: exactly once.
	t0 := time.Now()
	if got := sendMany(t, nodes, key, "one", 0, total); got != total {
		t.Fatalf("phase 1: %d of %d sends acknowledged", got, total)
	}
	acked := time.Since(t0)
	sink.wait(t, "one-", total, 3*time.Minute)
	dups, byNode := sink.report("one-")
	if dups > 0 {
		t.Errorf("phase 1: %d messages delivered more than once; want exactly once", dups)
	}
	if byNode[a.name] == 0 || byNode[b.name] == 0 {
		t.Errorf("phase 1: deliveries per node %v; want both nodes delivering", byNode)
	}
	t.Logf("cluster: phase 1, %d messages acknowledged in %.1f s and delivered in %.1f s over two gatewayd on two Galera nodes: %d redelivered (want 0); per node %v",
		total, acked.Seconds(), time.Since(t0).Seconds(), dups, byNode)

	// Phase 2: a slow next hop keeps attempts in flight; node A's database node is stopped
	// when a tenth of the batch has arrived.
	second := total / 4
	sink.setDelay(20 * time.Millisecond)
	if got := sendMany(t, nodes, key, "two", 0, second); got != second {
		t.Fatalf("phase 2: %d of %d sends acknowledged", got, second)
	}
	sink.wait(t, "two-", second/10, time.Minute)
	stoppedAt := time.Now()
	cluster(t, "stop-node", "1")
	t.Logf("cluster: database node 1 (node A's) stopped in %.1f s", time.Since(stoppedAt).Seconds())
	sink.setDelay(0)
	// Mail sent after the stop is acknowledged by both (A through the third node).
	third := 200
	if got := sendMany(t, nodes, key, "three", 0, third); got != third {
		t.Fatalf("after the database node stop: %d of %d sends acknowledged", got, third)
	}
	sink.wait(t, "two-", second, 2*time.Minute)
	sink.wait(t, "three-", third, 2*time.Minute)
	dups2, byNode2 := sink.report("two-")
	dups3, byNode3 := sink.report("three-")
	t.Logf("cluster: after the stop, %d + %d messages finished in %.1f s; %d redelivered (at-least-once: outcomes whose commit was cut off are sent again when their lease runs out); per node %v %v",
		second, third, time.Since(stoppedAt).Seconds(), dups2+dups3, byNode2, byNode3)
	if byNode3[a.name] == 0 {
		t.Errorf("node A delivered none of the mail sent after its database node stopped: %v", byNode3)
	}
	want := int64(total + second + third)
	deadline := time.Now().Add(time.Minute)
	for {
		counts, err := db.QueueCounts(ctx, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if counts[storage.StateDelivered] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue a minute after the last message arrived: %v; want %d delivered", counts, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !a.Healthy() || !b.Healthy() {
		t.Errorf("healthz after the failover: A %v, B %v; want both healthy", a.Healthy(), b.Healthy())
	}

	// A Galera node that is not synced is unhealthy; a DSN naming only it reports so.
	only, err := storage.Open(ctx, "mysql://root@"+host(2)+"/gw")
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if err := only.Health(ctx); err != nil {
		t.Fatalf("health of a synced node: %v", err)
	}
	if err := only.Exec(ctx, "SET GLOBAL wsrep_desync = ON"); err != nil {
		t.Fatal(err)
	}
	err = only.Health(ctx)
	only.Exec(ctx, "SET GLOBAL wsrep_desync = OFF")
	if err == nil || !strings.Contains(err.Error(), "not synced") {
		t.Fatalf("health of a desynced node: %v; want not synced", err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
}

func galeraInstalled() bool {
	for _, p := range []string{"/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so", "/usr/lib64/galera-4/libgalera_smm.so"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

var clusterDir string

// startGalera starts scripts/cluster.sh's three nodes on free loopback ports in a temporary
// directory, stopped when the test ends, and returns their SQL ports.
func startGalera(t *testing.T) []string {
	t.Helper()
	dir, err := os.MkdirTemp("", "galera")
	if err != nil {
		t.Fatal(err)
	}
	clusterDir = dir
	t.Cleanup(func() {
		cluster(t, "stop")
		os.RemoveAll(dir)
	})
	var ports [4][]string
	for i := range ports {
		for j := 0; j < 3; j++ {
			_, p, _ := strings.Cut(testkit.FreeAddr(t), ":")
			ports[i] = append(ports[i], p)
		}
	}
	cmd := exec.Command(clusterScript(t), "start", dir)
	cmd.Env = append(os.Environ(), "CLUSTER_SQL_PORTS="+strings.Join(ports[0], " "), "CLUSTER_GCOMM_PORTS="+strings.Join(ports[1], " "),
		"CLUSTER_IST_PORTS="+strings.Join(ports[2], " "), "CLUSTER_SST_PORTS="+strings.Join(ports[3], " "))
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh start: %v\n%s", err, out)
	}
	t.Logf("cluster: three Galera nodes on 127.0.0.1:%s synced in %.1f s", strings.Join(ports[0], ","), time.Since(t0).Seconds())
	return ports[0]
}

func clusterScript(t *testing.T) string {
	p, err := filepath.Abs("../scripts/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cluster runs scripts/cluster.sh <cmd> on the test's cluster.
func cluster(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(clusterScript(t), append([]string{args[0], clusterDir}, args[1:]...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
