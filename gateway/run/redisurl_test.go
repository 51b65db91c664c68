package run

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/redisurl"
)

// TestRedisURLForms reads every form OAIS_REDIS_URL takes and the mistakes
// an operator makes with them; a bad value names the variable and the forms.
func TestRedisURLForms(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    string // fmt of what was parsed, see describe
		wantErr string
	}{
		{name: "one server", url: "redis://:pw@10.0.0.1:6380/2",
			want: "single 10.0.0.1:6380 db 2 user= pw=pw"},
		{name: "TLS server", url: "rediss://10.0.0.1:6380/0",
			want: "single 10.0.0.1:6380 db 0 user= pw= tls"},
		{name: "cluster", url: "redis+cluster://oais:s3cret@10.0.0.1:7000,10.0.0.2:7001,[fd00::3]/?dial_timeout=3s",
			want: "cluster [10.0.0.1:7000 10.0.0.2:7001 [fd00::3]:6379] user=oais pw=s3cret dial=3s"},
		{name: "cluster without a slash", url: "redis+cluster://10.0.0.1:7000,10.0.0.2",
			want: "cluster [10.0.0.1:7000 10.0.0.2:6379] user= pw= dial=0s"},
		{name: "TLS cluster", url: "rediss+cluster://h1:7000/0",
			want: "cluster [h1:7000] user= pw= dial=0s tls"},
		{name: "sentinel", url: "redis+sentinel://:masterpw@s1:26379,s2/mymaster/3?sentinel_password=sentpw",
			want: "sentinel [s1:26379 s2:26379] master mymaster db 3 user= pw=masterpw sentinel-pw=sentpw"},
		{name: "sentinel default db", url: "redis+sentinel://s1/mymaster",
			want: "sentinel [s1:26379] master mymaster db 0 user= pw= sentinel-pw="},
		{name: "sentinel: a database where the master belongs", url: "redis+sentinel://mymaster@s1:26379,s2:26379/0", wantErr: "name the master"},
		{name: "sentinel needs its master", url: "redis+sentinel://s1:26379,s2:26379/", wantErr: "name the master"},
		{name: "sentinel database must be a number", url: "redis+sentinel://s1/m/x", wantErr: `database "x"`},
		{name: "sentinel to replicas refused", url: "redis+sentinel://s1/m?replica_only=true", wantErr: "not supported"},
		{name: "cluster has db 0 only", url: "redis+cluster://h1:7000/3", wantErr: "database 0 only"},
		{name: "bad port", url: "redis+cluster://h1:7000,h2:99999/", wantErr: `"h2:99999" is not a host:port`},
		{name: "empty host", url: "redis+cluster://h1:7000,,h2/", wantErr: "is not a host:port"},
		{name: "bare IPv6 without brackets", url: "redis+cluster://fd00::1/", wantErr: "is not a host:port"},
		{name: "unknown option", url: "redis+cluster://h1/?frobnicate=1", wantErr: "frobnicate"},
		{name: "unknown topology", url: "redis+shard://h1/", wantErr: `unsupported scheme "redis+shard"`},
		{name: "not redis", url: "http://h1/", wantErr: `unsupported scheme "http"`},
		{name: "no scheme", url: "h1:6379", wantErr: "missing scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(config.Map(map[string]string{"OAIS_REDIS_URL": tt.url}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "OAIS_REDIS_URL") || !strings.Contains(err.Error(), tt.wantErr) ||
					!strings.Contains(err.Error(), "redis+sentinel://") {
					t.Fatalf("Load = %v; want an error naming OAIS_REDIS_URL, %q and the forms", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(c.redis); got != tt.want {
				t.Fatalf("parsed\n  %s\nwant\n  %s", got, tt.want)
			}
			if s := c.redis.String(); strings.Contains(s, "pw") || strings.Contains(s, "s3cret") {
				t.Fatalf("String() = %q shows a credential", s)
			}
		})
	}
}

func describe(t *redisurl.Target) string {
	tls := func(on bool) string {
		if on {
			return " tls"
		}
		return ""
	}
	switch {
	case t.Cluster != nil:
		o := t.Cluster
		return fmt.Sprintf("cluster %v user=%s pw=%s dial=%v%s", o.Addrs, o.Username, o.Password, o.DialTimeout/time.Second*time.Second, tls(o.TLSConfig != nil))
	case t.Failover != nil:
		o := t.Failover
		return fmt.Sprintf("sentinel %v master %s db %d user=%s pw=%s sentinel-pw=%s", o.SentinelAddrs, o.MasterName, o.DB, o.Username, o.Password, o.SentinelPassword)
	}
	o := t.Single
	return fmt.Sprintf("single %s db %d user=%s pw=%s%s", o.Addr, o.DB, o.Username, o.Password, tls(o.TLSConfig != nil))
}
