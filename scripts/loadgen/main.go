// Command loadgen is the load and fault tooling of `make bench` (scripts/bench-compare.sh) and
// `make soak` (scripts/soak.sh). It is not part of gatewayd:
//
//	loadgen http   HTTP load at a fixed concurrency: requests/s and latency percentiles
//	loadgen sink   an SMTP sink that counts what arrives (per recipient), with a control port
//	               to read the counts, refuse mail (4xx) or hold connections for a while
//	loadgen soak   the crash test: sends over HTTP and SMTP to a real `gatewayd serve` while
//	               killing it (SIGKILL), restarting the database and refusing at the sink;
//	               every acknowledged message must reach the sink
//	loadgen cluster the same over several gatewayd nodes on one database (a Galera cluster):
//	               a node SIGKILLed, a database node stopped, a node restarted
//
// Everything listens and connects on loopback only.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: loadgen http|sink|soak|cluster [flags]   (loadgen <command> -h for the flags)`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "http":
		err = cmdHTTP(os.Args[2:])
	case "sink":
		err = cmdSink(os.Args[2:])
	case "soak":
		err = cmdSoak(os.Args[2:])
	case "cluster":
		err = cmdCluster(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
