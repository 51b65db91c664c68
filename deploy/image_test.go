package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestImage builds the image with deploy/image/build.sh (what `make image`
// runs), checks what it promises (labels, non-root user, no shell, the /data
// defaults, the stamped version), then runs from it, with --network host and
// the hardening the chart uses, `controlplane migrate up`, a control plane
// and two gateways against the machine's PostgreSQL (a fresh database) and
// Redis (its own DB number), sends a chat completion through each gateway
// with the quickstart key the control plane printed, revokes that key through
// GraphQL and expects both gateways to answer 401 api_key_revoked within 1 s,
// and stops a gateway with SIGTERM: it exits 0 after shipping its spool.
// OAIS_TEST_IMAGE=name:tag tests an image already built instead.
// Figure: the image's size.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the container image; skipped with -short")
	}
	e := containerEngine(t)
	suffix := randomHex(4)
	image := os.Getenv("OAIS_TEST_IMAGE")
	if image == "" {
		image = "localhost/oais-test:" + suffix
		build := exec.Command("./deploy/image/build.sh", image)
		build.Dir = repoRoot(t)
		build.Env = append(os.Environ(), "CONTAINER_ENGINE="+e.name)
		out, err := build.CombinedOutput()
		if err != nil {
			t.Fatalf("deploy/image/build.sh: %v\n%s", err, tail(string(out), 4096))
		}
		t.Cleanup(func() { _, _ = e.run(context.Background(), "rmi", "-f", image) })
		t.Logf("FIGURE %s", strings.TrimSpace(string(out)))
	}

	t.Run("metadata", func(t *testing.T) { checkImageMetadata(t, e, image) })

	dbURL := freshDatabase(t)
	redisURL := redisTestURL(t)
	const password = "image-test-password-1"
	// PostgreSQL needs the sealing key, the same on every binary.
	secretsKey := "OAIS_SECRETS_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	ctx := t.Context()

	migrate := e.must(t, append(append([]string{"run", "--rm", "--network", "host"}, runFlags...),
		"-e", "OAIS_DATABASE_URL="+dbURL, image, "controlplane", "migrate", "up")...)
	if !strings.Contains(migrate, "applied") {
		t.Fatalf("controlplane migrate up: %q", migrate)
	}

	cpPort := freePort(t)
	cp := startContainer(t, e, image, "oais-test-"+suffix+"-cp", []string{
		"OAIS_DATABASE_URL=" + dbURL,
		fmt.Sprintf("OAIS_CONTROLPLANE_ADDR=127.0.0.1:%d", cpPort),
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD=" + password,
		"OAIS_BILLING_INTERVAL=1h",
		secretsKey,
	}) // the image's default command: controlplane serve
	cpURL := fmt.Sprintf("http://127.0.0.1:%d", cpPort)
	var key string
	if !waitFor(60*time.Second, func() bool {
		key = keyPattern.FindString(cp.logs(t))
		return key != "" && httpStatus(cpURL+"/readyz") == 200
	}) {
		t.Fatalf("control plane did not become ready with a quickstart key:\n%s", tail(cp.logs(t), 4096))
	}

	var gws []*container
	for _, name := range []string{"gw1", "gw2"} {
		port := freePort(t)
		g := startContainer(t, e, image, "oais-test-"+suffix+"-"+name, []string{
			"OAIS_DATABASE_URL=" + dbURL,
			fmt.Sprintf("OAIS_GATEWAY_ADDR=127.0.0.1:%d", port),
			"OAIS_REDIS_URL=" + redisURL,
			secretsKey,
		}, "gateway", "serve")
		g.url = fmt.Sprintf("http://127.0.0.1:%d", port)
		if !waitFor(60*time.Second, func() bool { return httpStatus(g.url+"/readyz") == 200 }) {
			t.Fatalf("%s did not become ready:\n%s", name, tail(g.logs(t), 4096))
		}
		gws = append(gws, g)
	}

	for _, g := range gws {
		status, body := chat(ctx, g.url, key)
		if status != 200 || !bytes.Contains(body, []byte(`"choices"`)) {
			t.Fatalf("%s: chat completion with the quickstart key: %d %s", g.name, status, body)
		}
	}

	token := signIn(t, cpURL, password)
	var keys struct {
		Viewer struct {
			Memberships []struct {
				Workspace struct {
					APIKeys struct {
						Edges []struct{ Node struct{ ID string } }
					} `json:"apiKeys"`
				}
			}
		}
	}
	graphql(t, cpURL, token, `{ viewer { memberships { workspace { apiKeys(first: 5) { edges { node { id } } } } } } }`, nil, &keys)
	if len(keys.Viewer.Memberships) == 0 || len(keys.Viewer.Memberships[0].Workspace.APIKeys.Edges) == 0 {
		t.Fatalf("the bootstrap admin sees no key: %+v", keys)
	}
	id := keys.Viewer.Memberships[0].Workspace.APIKeys.Edges[0].Node.ID
	graphql(t, cpURL, token, `mutation($id:ID!){ revokeAPIKey(id:$id){ status } }`, map[string]any{"id": id}, nil)
	revoked := time.Now()
	var wg sync.WaitGroup
	for _, g := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var status int
			var body []byte
			ok := waitFor(time.Until(revoked.Add(time.Second)), func() bool {
				status, body = chat(ctx, g.url, key)
				return status == 401
			})
			if !ok || !bytes.Contains(body, []byte(`"api_key_revoked"`)) {
				t.Errorf("%s: 1 s after revokeAPIKey returned it answers %d %s, want 401 api_key_revoked", g.name, status, body)
				return
			}
			t.Logf("FIGURE %s refused the revoked key %v after the mutation returned", g.name, time.Since(revoked).Round(time.Millisecond))
		}()
	}
	wg.Wait()

	// SIGTERM (the image's STOPSIGNAL): the gateway drains, ships its
	// spool and exits 0 well within the 40 s a stop waits.
	g := gws[0]
	e.must(t, "stop", "-t", "40", g.name)
	if code := strings.TrimSpace(e.must(t, "inspect", "--format", "{{.State.ExitCode}}", g.name)); code != "0" {
		t.Fatalf("%s exited %s after SIGTERM, want 0:\n%s", g.name, code, tail(g.logs(t), 4096))
	}
	if logs := g.logs(t); !strings.Contains(logs, "usage spool shipped") {
		t.Fatalf("%s did not ship its spool on SIGTERM:\n%s", g.name, tail(logs, 4096))
	}
}

// checkImageMetadata asserts what the image promises without running a server.
func checkImageMetadata(t *testing.T, e engine, image string) {
	var inspect []struct {
		Size   int64
		Config struct {
			User         string
			Env          []string
			Cmd          []string
			Labels       map[string]string
			ExposedPorts map[string]any
			Volumes      map[string]any
			StopSignal   string
		}
	}
	if err := json.Unmarshal([]byte(e.must(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	c := inspect[0].Config
	t.Logf("FIGURE image size: %.1f MB (%d bytes)", float64(inspect[0].Size)/1e6, inspect[0].Size)
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (nonroot)", c.User)
	}
	for _, want := range []string{"OAIS_DATABASE_URL=sqlite:///data/oais.db", "OAIS_SPOOL_DIR=/data/spool"} {
		if !contains(c.Env, want) {
			t.Errorf("env %v lacks %s", c.Env, want)
		}
	}
	for _, l := range []string{"title", "source", "version", "revision", "created"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s is missing: %v", l, c.Labels)
		}
	}
	for _, p := range []string{"8080/tcp", "8081/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s is not exposed: %v", p, c.ExposedPorts)
		}
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("/data is not a volume: %v", c.Volumes)
	}
	// No shell to exec into: the image is the two binaries and their files.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.run(ctx, append(append([]string{"run", "--rm"}, runFlags...), "--entrypoint", "/bin/sh", image, "-c", "true")...); err == nil {
		t.Errorf("the image has a shell: /bin/sh ran (%s)", out)
	}
	version := c.Labels["org.opencontainers.image.version"]
	for _, bin := range []string{"gateway", "controlplane"} {
		out := e.must(t, append(append([]string{"run", "--rm"}, runFlags...), image, bin, "version")...)
		if !strings.HasPrefix(out, bin+" "+version+" ") {
			t.Errorf("%s version says %q, want the image's version %q", bin, out, version)
		}
	}
}

// container is one detached container started from the image.
type container struct {
	e    engine
	name string
	url  string
}

// startContainer runs image detached on the host network with env and args
// and removes it (with its anonymous /data volume) when the test ends.
func startContainer(t *testing.T, e engine, image, name string, env []string, args ...string) *container {
	t.Helper()
	run := append([]string{"run", "-d", "--name", name, "--network", "host"}, runFlags...)
	for _, kv := range env {
		run = append(run, "-e", kv)
	}
	run = append(append(run, image), args...)
	c := &container{e: e, name: name}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logs (last 4 KiB):\n%s", name, tail(c.logs(t), 4096))
		}
		_, _ = e.run(context.Background(), "rm", "-f", "-v", name)
	})
	e.must(t, run...)
	return c
}

// logs is what the container wrote to stdout and stderr so far.
func (c *container) logs(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := c.e.run(ctx, "logs", c.name)
	return out
}

var keyPattern = regexp.MustCompile(`sk-oais-[A-Za-z0-9]+`)

// freshDatabase creates an empty PostgreSQL database on the server of
// OAIS_TEST_DATABASE_URL and drops it when the test ends. The test migrates
// it from the image, as the chart's pre-install Job does.
func freshDatabase(t *testing.T) string {
	t.Helper()
	server := os.Getenv("OAIS_TEST_DATABASE_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	db, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := "oais_image_" + randomHex(6)
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("PostgreSQL at OAIS_TEST_DATABASE_URL (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String()
}

// redisTestDB is the Redis database number the image test's gateways use:
// the gateway's keys have fixed prefixes (oais:rl:, oais:cache:, …), so a DB
// of its own keeps them apart from other tests on the same server. Nothing
// is flushed: the keys carry this run's random ids.
const redisTestDB = 13

// redisTestURL is the machine's Redis (OAIS_TEST_REDIS_ADDR, default
// 127.0.0.1:6379) as an OAIS_REDIS_URL, after checking it answers.
func redisTestURL(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("OAIS_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("Redis at %s is not reachable (start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no): %v", addr, err)
	}
	c.Close()
	return fmt.Sprintf("redis://%s/%d", addr, redisTestDB)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func httpStatus(u string) int {
	resp, err := client.Get(u)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// chat sends one chat completion to the mock upstream through a gateway.
func chat(ctx context.Context, base, key string) (int, []byte) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello from the image test."}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// graphql runs one operation on the control plane and decodes its data
// into out (if not nil); any GraphQL error fails the test.
func graphql(t *testing.T, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var g struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &g); err != nil || resp.StatusCode != 200 || len(g.Errors) > 0 {
		t.Fatalf("graphql %q: status %d: %s", query, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(g.Data, out); err != nil {
			t.Fatalf("graphql %q: %v in %s", query, err, g.Data)
		}
	}
}

// signIn signs the bootstrap admin in and returns its session token.
func signIn(t *testing.T, base, password string) string {
	t.Helper()
	var d struct {
		SignIn struct{ AccessToken string } `json:"signIn"`
	}
	graphql(t, base, "", `mutation($e:String!,$p:String!){ signIn(email:$e, password:$p){ accessToken } }`,
		map[string]any{"e": "admin@localhost", "p": password}, &d)
	if d.SignIn.AccessToken == "" {
		t.Fatal("signIn returned no access token")
	}
	return d.SignIn.AccessToken
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
