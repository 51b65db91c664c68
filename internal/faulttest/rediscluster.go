package faulttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisCluster is a private Redis Cluster of redis-server children on
// loopback, each master in a temporary directory of its own, without
// persistence and without replicas.
type RedisCluster struct {
	t     testing.TB
	Ports []int
	Nodes []*Process
}

// StartRedisCluster starts masters cluster-enabled redis-servers (at least
// 3, what redis-cli --cluster create asks for), joins them with
// `redis-cli --cluster create`, and waits until every node says
// cluster_state:ok. The nodes are killed when the test ends.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("private Redis Cluster: %s not in PATH: %v", bin, err)
		}
	}
	rc := &RedisCluster{t: t}
	for i := range masters {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		port, p := startClusterNode(t, dir)
		rc.Ports = append(rc.Ports, port)
		rc.Nodes = append(rc.Nodes, p)
	}
	args := []string{"--cluster", "create"}
	for _, port := range rc.Ports {
		args = append(args, fmt.Sprintf("127.0.0.1:%d", port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", append(args, "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, port := range rc.Ports {
		if !WaitFor(30*time.Second, func() bool {
			return strings.Contains(rc.CLI(port, "cluster", "info"), "cluster_state:ok")
		}) {
			t.Fatalf("cluster node %d never reached cluster_state:ok:\n%s", port, rc.CLI(port, "cluster", "info"))
		}
	}
	return rc
}

// URL is OAIS_REDIS_URL for the cluster: every node, as the gateway's
// redis+cluster:// form takes them.
func (rc *RedisCluster) URL() string {
	addrs := make([]string, len(rc.Ports))
	for i, p := range rc.Ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return "redis+cluster://" + strings.Join(addrs, ",") + "/"
}

// Addrs are the nodes' host:port addresses.
func (rc *RedisCluster) Addrs() []string {
	addrs := make([]string, len(rc.Ports))
	for i, p := range rc.Ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return addrs
}

// CLI runs redis-cli against the node on port and returns its output
// (errors included).
func (rc *RedisCluster) CLI(port int, args ...string) string {
	return redisCLI(port, args...)
}

// KeysPerNode counts the keys on each node (DBSIZE), in Ports order.
func (rc *RedisCluster) KeysPerNode() []int {
	n := make([]int, len(rc.Ports))
	for i, p := range rc.Ports {
		n[i], _ = strconv.Atoi(strings.TrimSpace(redisCLI(p, "dbsize")))
	}
	return n
}

func redisCLI(port int, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s (%v)", out, err)
	}
	return string(out)
}

// startClusterNode starts one cluster-enabled redis-server in dir and
// waits for its PING. A free port can be taken by another process between
// FreePort and the server's bind (the suite runs packages in parallel), so
// a node that exits or stays silent is started again on new ports, up to
// three times.
func startClusterNode(t testing.TB, dir string) (int, *Process) {
	t.Helper()
	var why string
	for range 3 {
		port := FreePort(t)
		// The cluster bus gets a free port of its own instead of port+10000,
		// which may be taken or past 65535.
		p := Start(t, fmt.Sprintf("redis-cluster-%d", port), "redis-server", nil,
			"--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(FreePort(t)), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000", "--dir", dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no")
		if WaitFor(10*time.Second, func() bool { return p.Exited() || ping(port) }) && !p.Exited() {
			return port, p
		}
		p.Kill()
		why = fmt.Sprintf("port %d: %s", port, tail(p.Stdout.String()+p.Stderr.String(), 1024))
		_ = os.Remove(filepath.Join(dir, "nodes.conf"))
	}
	t.Fatalf("a Redis Cluster node did not answer PING in three starts; the last: %s", why)
	return 0, nil
}

// ping reports whether a Redis server (or sentinel) answers PING on port.
func ping(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := c.Read(b)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// RedisSentinel is a private Redis master, one replica and one sentinel
// watching them (quorum 1) on loopback, so a test can kill the master and
// watch the sentinel promote the replica.
type RedisSentinel struct {
	t            testing.TB
	MasterName   string
	MasterPort   int
	ReplicaPort  int
	SentinelPort int
	master       *Process
	replica      *Process
	sentinel     *Process
}

// StartRedisSentinel starts the master, its replica and the sentinel and
// waits until the replica is in sync and the sentinel knows it. The sentinel declares a
// master down after 1 s without an answer and fails over at once.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("private Redis Sentinel: redis-server not in PATH: %v", err)
	}
	s := &RedisSentinel{t: t, MasterName: "oais-master", MasterPort: FreePort(t), ReplicaPort: FreePort(t), SentinelPort: FreePort(t)}
	server := func(name string, port int, extra ...string) *Process {
		p := Start(t, name, "redis-server", nil, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", t.TempDir()}, extra...)...)
		if !WaitFor(10*time.Second, func() bool { return ping(port) }) {
			t.Fatalf("%s on port %d did not answer PING", name, port)
		}
		return p
	}
	// Diskless sync starts at once instead of waiting 5 s for more replicas.
	s.master = server("redis-master", s.MasterPort, "--repl-diskless-sync-delay", "0")
	s.replica = server("redis-replica", s.ReplicaPort, "--replicaof", "127.0.0.1", strconv.Itoa(s.MasterPort))
	if !WaitFor(20*time.Second, func() bool {
		return strings.Contains(redisCLI(s.ReplicaPort, "info", "replication"), "master_link_status:up")
	}) {
		t.Fatalf("the replica did not sync with the master:\n%s", redisCLI(s.ReplicaPort, "info", "replication"))
	}
	// The sentinel rewrites its configuration file, so it gets one of its own.
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\nsentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[2]s 1000\nsentinel failover-timeout %[2]s 10000\nsentinel parallel-syncs %[2]s 1\n",
		s.SentinelPort, s.MasterName, s.MasterPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s.sentinel = Start(t, "redis-sentinel", "redis-server", nil, conf, "--sentinel", "--dir", filepath.Dir(conf))
	if !WaitFor(10*time.Second, func() bool { return ping(s.SentinelPort) }) {
		t.Fatalf("sentinel on port %d did not answer PING", s.SentinelPort)
	}
	if !WaitFor(20*time.Second, func() bool {
		return strings.Contains(redisCLI(s.SentinelPort, "sentinel", "replicas", s.MasterName), strconv.Itoa(s.ReplicaPort))
	}) {
		t.Fatalf("the sentinel did not discover the replica:\n%s", redisCLI(s.SentinelPort, "sentinel", "replicas", s.MasterName))
	}
	return s
}

// URL is OAIS_REDIS_URL through the sentinel.
func (s *RedisSentinel) URL() string {
	return fmt.Sprintf("redis+sentinel://127.0.0.1:%d/%s/0", s.SentinelPort, s.MasterName)
}

// KillMaster SIGKILLs the master: the sentinel promotes the replica.
func (s *RedisSentinel) KillMaster() { s.master.Kill() }

// MasterAddr is the master the sentinel names now.
func (s *RedisSentinel) MasterAddr() string {
	out := strings.Fields(redisCLI(s.SentinelPort, "sentinel", "get-master-addr-by-name", s.MasterName))
	if len(out) != 2 {
		return strings.Join(out, " ")
	}
	return out[0] + ":" + out[1]
}

// CLI runs redis-cli against port (the master's, the replica's or the
// sentinel's).
func (s *RedisSentinel) CLI(port int, args ...string) string { return redisCLI(port, args...) }
