package throttle

import (
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	f := New(3, 80*time.Millisecond)
	for i := 0; i < 3; i++ {
		if _, b := f.Blocked("user:a", "ip:1"); b {
			t.Fatalf("blocked after %d failures", i)
		}
		f.Fail("user:a", "ip:1")
	}
	if w, b := f.Blocked("user:a"); !b || w <= 0 || w > 80*time.Millisecond {
		t.Fatalf("username after 3 failures: blocked %v wait %v", b, w)
	}
	if _, b := f.Blocked("user:other", "ip:1"); !b {
		t.Fatal("the address is not blocked for another username")
	}
	f.Clear("user:a")
	if _, b := f.Blocked("user:a"); b {
		t.Fatal("cleared username still blocked")
	}
	time.Sleep(100 * time.Millisecond)
	if _, b := f.Blocked("ip:1"); b {
		t.Fatal("still blocked after the window")
	}
	var off *Failures
	off.Fail("x")
	if _, b := off.Blocked("x"); b {
		t.Fatal("nil Failures blocks")
	}
}
