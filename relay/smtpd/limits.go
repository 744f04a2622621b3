package smtpd

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener counts connections per client IP and refuses those over the limit before go-smtp
// sees them ("421 4.7.0", then close). It wraps every connection in a trackedConn, under TLS
// for implicit-TLS listeners, so sessions can reach it through STARTTLS too.
type listener struct {
	net.Listener
	srv         *Server
	implicitTLS bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.srv
		ip := remoteIP(c.RemoteAddr())
		if s.closing.Load() || !s.ipConns.acquire(ip.String(), s.opts.MaxConns) {
			if !l.implicitTLS {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				msg := "421 4.7.0 " + s.opts.Hostname + " Too many connections from your address, try again later\r\n"
				if s.closing.Load() {
					msg = "421 4.3.2 " + s.opts.Hostname + " Service shutting down, try again later\r\n"
				}
				io.WriteString(c, msg)
			}
			c.Close()
			s.log.Debug("smtp connection refused", "ip", ip.String())
			continue
		}
		tc := &trackedConn{Conn: c, srv: s, ip: ip}
		s.track(tc)
		if l.implicitTLS {
			tc.secured.Store(true)
			return tls.Server(tc, s.opts.TLS), nil
		}
		return tc, nil
	}
}

// trackedConn is a client connection: it releases its slot when closed, can be told to close
// right after the next reply is written, and knows whether a transaction is under way.
type trackedConn struct {
	net.Conn
	srv        *Server
	ip         net.IP
	once       sync.Once
	closeAfter atomic.Bool
	busy       atomic.Bool  // inside a transaction (MAIL .. end of DATA or RSET)
	secured    atomic.Bool  // TLS runs over this connection
	renewRead  atomic.Int64 // > 0: every read first pushes the read deadline this far (DATA)
	writeMu    sync.Mutex
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if d := c.renewRead.Load(); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
	}
	return c.Conn.Read(b)
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	n, err := c.Conn.Write(b)
	c.writeMu.Unlock()
	if c.closeAfter.Load() {
		c.Close()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.srv.ipConns.release(c.ip.String())
		c.srv.untrack(c)
	})
	return err
}

// goodbye tells an idle client the server is going away and closes the connection. Over TLS
// the plain-text line would garble the stream, so such clients are just closed.
func (c *trackedConn) goodbye(hostname string) {
	if !c.tlsActive() {
		c.writeMu.Lock()
		c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c.Conn, "421 4.3.2 "+hostname+" Service shutting down, try again later\r\n")
		c.writeMu.Unlock()
	}
	c.Close()
}

func (c *trackedConn) tlsActive() bool { return c.secured.Load() }

// remoteIP is the IP of a TCP address (nil for anything else).
func remoteIP(a net.Addr) net.IP {
	if t, ok := a.(*net.TCPAddr); ok {
		if v4 := t.IP.To4(); v4 != nil {
			return v4
		}
		return t.IP
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// counter counts concurrent holders per key.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounter() *counter { return &counter{m: map[string]int{}} }

// acquire takes a slot of key unless max are taken.
func (c *counter) acquire(key string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] >= max {
		return false
	}
	c.m[key]++
	return true
}

func (c *counter) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] <= 1 {
		delete(c.m, key)
		return
	}
	c.m[key]--
}
