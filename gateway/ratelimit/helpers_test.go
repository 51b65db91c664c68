package ratelimit

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisAddr is the machine's Redis; OAIS_TEST_REDIS_ADDR overrides it.
func testRedisAddr() string {
	if a := os.Getenv("OAIS_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// requireRedis fails the test (never skips) if the machine's Redis does
// not answer, saying how to start it.
func requireRedis(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr(), MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s unreachable: %v; start it with `redis-server --daemonize yes` "+
			"(or `docker run -d -p 6379:6379 redis:7`), or point OAIS_TEST_REDIS_ADDR at one", testRedisAddr(), err)
	}
}

// newTestRedis returns a client for addr, closed when the test ends.
func newTestRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	requireRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix returns a key prefix unique to this test run and deletes its
// keys when the test ends.
func testPrefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	p := fmt.Sprintf("oais-test:%s:%d:", name, time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl := redis.NewClient(&redis.Options{Addr: testRedisAddr()})
		defer cl.Close()
		iter := cl.Scan(ctx, 0, p+"*", 100).Iterator()
		for iter.Next(ctx) {
			cl.Del(ctx, iter.Val())
		}
	})
	return p
}

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	// A whole second, so one-second buckets start exactly at t0.
	return &fakeClock{now: time.Unix(1_800_000_000, 0)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tcpProxy forwards loopback connections to Redis; closing it simulates
// losing Redis without touching the machine's server.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	// held stops Redis's replies from reaching the client (HoldReplies);
	// replyGate wakes the copiers when it changes.
	held      bool
	replyGate *sync.Cond
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	p.replyGate = sync.NewCond(&p.mu)
	p.listen("127.0.0.1:0")
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) listen(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *tcpProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.replies(c, up)
	}
}

// replies copies Redis's replies to the client, waiting while they are
// held.
func (p *tcpProxy) replies(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held {
				p.replyGate.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// HoldReplies lets commands reach Redis (which runs them) but keeps their
// replies from the client until ReleaseReplies, as a slow network would:
// the client's round trip times out although Redis did the work.
func (p *tcpProxy) HoldReplies() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// ReleaseReplies lets held and later replies through.
func (p *tcpProxy) ReleaseReplies() {
	p.mu.Lock()
	p.held = false
	p.replyGate.Broadcast()
	p.mu.Unlock()
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Close stops listening and cuts every open connection.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	p.held = false
	p.replyGate.Broadcast()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	wait(p.t, &p.wg, "the Redis proxy's connections to close")
}

// Restart listens again on the same address.
func (p *tcpProxy) Restart() { p.listen(p.addr) }

// waitBound is how long a test waits for what, when the code works, comes
// at once; the bound only stops a broken test, it is not what the test
// asserts.
const waitBound = 10 * time.Second

// waitFor polls cond until it holds or waitBound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv returns the next value of ch, or fails the test naming what it
// waited for.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
	}
	t.Fatalf("waited %v for %s", waitBound, what)
	var zero T
	return zero
}

// wait waits for wg, or fails the test naming what it waited for.
func wait(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, what)
}
