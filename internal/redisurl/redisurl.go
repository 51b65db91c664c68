// Package redisurl reads the Redis URLs both binaries take (OAIS_REDIS_URL,
// OAIS_REDIS_CACHE_URL): one server, a Redis Cluster, or a master found
// through Sentinel.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Forms is what OAIS_REDIS_URL and OAIS_REDIS_CACHE_URL accept, for error
// messages.
const Forms = "redis://[user:password@]host:port/db, rediss://… (TLS), " +
	"redis+cluster://[user:password@]host:port,host:port,…/ (Redis Cluster) or " +
	"redis+sentinel://[user:password@]host:26379,host:26379,…/master-name[/db] (Sentinel)"

// Target is a parsed Redis URL: one server, a Redis Cluster, or a master
// found through Sentinel. Exactly one field is set.
type Target struct {
	Single   *redis.Options
	Cluster  *redis.ClusterOptions
	Failover *redis.FailoverOptions
}

// Parse reads one of the forms of Forms. The cluster and
// sentinel forms take go-redis's query options (dial_timeout=3s,
// pool_size=…; ParseClusterURL, ParseFailoverURL), hosts without a port
// get 6379 (cluster) or 26379 (sentinel), and rediss+… uses TLS.
//
// The userinfo is the data servers' credentials in every form; a
// sentinel's own, if it has any, go in the query as sentinel_username and
// sentinel_password. A cluster has database 0 only.
func Parse(raw string) (*Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("missing scheme")
	}
	base, topology, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("unsupported scheme %q", scheme)
	}
	defaultPort := ""
	switch topology {
	case "":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		return &Target{Single: o}, nil
	case "cluster":
		defaultPort = "6379"
	case "sentinel":
		defaultPort = "26379"
	default:
		return nil, fmt.Errorf("unsupported scheme %q", scheme)
	}
	// The host list is not one URL host (url.Parse refuses commas in a
	// port), so the authority is split by hand and the first host put in a
	// URL go-redis parses, the others as its addr= options.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostList := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}
	var hosts []string
	for _, h := range strings.Split(hostList, ",") {
		h = strings.TrimSpace(h)
		host, port, err := net.SplitHostPort(h)
		if err != nil { // no port; an IPv6 address needs its brackets
			host, port = h, defaultPort
			if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
				host = h[1 : len(h)-1]
			} else if strings.ContainsAny(h, ":[]") {
				host = ""
			}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, fmt.Errorf("%q is not a host:port", h)
		}
		hosts = append(hosts, net.JoinHostPort(host, port))
	}
	u, err := url.Parse(base + "://" + userinfo + hosts[0] + tail)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	if topology == "cluster" {
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, fmt.Errorf("a Redis Cluster has database 0 only, not %q", p)
		}
		u.Path, u.RawQuery = "", q.Encode()
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, err
		}
		return &Target{Cluster: o}, nil
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if _, err := strconv.Atoi(segs[0]); err == nil || segs[0] == "" || len(segs) > 2 {
		// A number first is a database where the master's name belongs.
		return nil, errors.New("name the master after the sentinels: redis+sentinel://host:26379,…/master-name[/db]")
	}
	q.Set("master_name", segs[0])
	u.Path = ""
	if len(segs) == 2 {
		if _, err := strconv.Atoi(segs[1]); err != nil {
			return nil, fmt.Errorf("database %q is not a number", segs[1])
		}
		u.Path = "/" + segs[1]
	}
	// go-redis reads the userinfo as the sentinels' credentials and
	// username= and password= as the master's; ours are the other way
	// round, as in every other form.
	if u.User != nil {
		q.Set("username", u.User.Username())
		if pw, ok := u.User.Password(); ok {
			q.Set("password", pw)
		}
		u.User = nil
	}
	if su, sp := q.Get("sentinel_username"), q.Get("sentinel_password"); su != "" || sp != "" {
		u.User = url.UserPassword(su, sp)
		q.Del("sentinel_username")
		q.Del("sentinel_password")
	}
	u.RawQuery = q.Encode()
	o, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, err
	}
	if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly {
		// The limiter's scripts write: every command goes to the master.
		return nil, errors.New("route_by_latency, route_randomly and replica_only are not supported: every command goes to the master")
	}
	return &Target{Failover: o}, nil
}

// Client opens a client for t; Close it.
func (t *Target) Client() redis.UniversalClient {
	switch {
	case t.Cluster != nil:
		return redis.NewClusterClient(t.Cluster)
	case t.Failover != nil:
		return redis.NewFailoverClient(t.Failover)
	}
	return redis.NewClient(t.Single)
}

// String describes t for logs: its form and addresses, never credentials.
func (t *Target) String() string {
	switch {
	case t.Cluster != nil:
		return "cluster " + strings.Join(t.Cluster.Addrs, ",")
	case t.Failover != nil:
		return "sentinel " + strings.Join(t.Failover.SentinelAddrs, ",") + " master " + t.Failover.MasterName
	}
	return t.Single.Addr
}
