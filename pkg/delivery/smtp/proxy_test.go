package smtp

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// proxy forwards loopback TCP connections to an SMTP server, counting them, keeping what each
// client sent, and closing them all on demand as a server that drops its clients would.
type proxy struct {
	listener net.Listener
	target   string

	mu       sync.Mutex
	open     map[*proxied]struct{}
	all      []*proxied
	maxOpen  int
	wg       sync.WaitGroup
	accepted int
}

// proxied is one forwarded connection.
type proxied struct {
	client, server net.Conn
	// sent is everything the client sent, in order; exchange is what both sides sent, each read
	// on its own line after "C: " or "S: ", in the order the proxy forwarded them.
	sent, exchange bytes.Buffer
	done           chan struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{listener: l, target: target, open: map[*proxied]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = l.Close()
		p.dropAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) port() int { return p.listener.Addr().(*net.TCPAddr).Port }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxied{client: client, server: server, done: make(chan struct{})}
		p.mu.Lock()
		p.accepted++
		p.open[c] = struct{}{}
		p.all = append(p.all, c)
		p.maxOpen = max(p.maxOpen, len(p.open))
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward copies both ways until either side ends, then closes both.
func (p *proxy) forward(c *proxied) {
	defer p.wg.Done()
	var copies sync.WaitGroup
	copies.Add(2)
	go func() {
		defer copies.Done()
		// Recorded before it is forwarded, so that the server's reply proves the record is there.
		_, _ = io.Copy(io.MultiWriter(lockedWriter{&p.mu, &c.sent}, taggedWriter{&p.mu, &c.exchange, "C: "}, c.server), c.client)
		_ = c.server.Close()
	}()
	go func() {
		defer copies.Done()
		_, _ = io.Copy(io.MultiWriter(taggedWriter{&p.mu, &c.exchange, "S: "}, c.client), c.server)
		_ = c.client.Close()
	}()
	copies.Wait()
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	close(c.done)
}

// lockedWriter appends to a buffer that the test reads under the proxy's lock.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

// taggedWriter appends each write to a buffer on a line of its own, after a tag.
type taggedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
	tag string
}

func (w taggedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.WriteString("\n" + w.tag)
	return w.buf.Write(b)
}

// dropAll closes every open connection on both sides, and returns once they are gone.
func (p *proxy) dropAll() {
	p.mu.Lock()
	var dropped []*proxied
	for c := range p.open {
		dropped = append(dropped, c)
	}
	p.mu.Unlock()
	for _, c := range dropped {
		_ = c.client.Close()
		_ = c.server.Close()
		<-c.done
	}
}

// counts returns how many connections were accepted and the most that were open at once.
func (p *proxy) counts() (accepted, maxOpen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.maxOpen
}

// transcripts returns what the client sent on each connection, oldest connection first.
func (p *proxy) transcripts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.all))
	for i, c := range p.all {
		out[i] = c.sent.String()
	}
	return out
}

// exchanges returns what both sides sent on each connection (proxied.exchange), oldest first.
func (p *proxy) exchanges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.all))
	for i, c := range p.all {
		out[i] = c.exchange.String()
	}
	return out
}
