// Package web serves the dashboard: the Vite build of this directory,
// embedded into the control plane binary.
//
// Hashed files under assets/ are immutable and cached for a year; index.html
// is revalidated on every load so a deploy takes effect at once; any other
// path that does not name a file is a client-side route and gets index.html.
// Paths that belong to the control plane's own handlers are never answered
// with the SPA, so a misrouted API call fails loudly instead of returning HTML.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// indexFile is the SPA's entry point inside dist/.
const indexFile = "index.html"

// assetsDir holds Vite's content-hashed output (vite.config.ts build.assetsDir;
// change both together).
const assetsDir = "assets/"

// Cache policies: hashed assets never change under their name; everything
// else must be revalidated so a new build shows up on the next load.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// contentSecurityPolicy allows only same-origin scripts and connections.
// Inline styles are allowed because Radix and recharts position elements
// with style attributes; the favicon is a data: URL.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// reservedPrefixes are served by the control plane itself (it mounts them
// before this handler); they never fall back to index.html. /auth/complete
// is the exception: it is the SPA page that finishes SSO.
var reservedPrefixes = []string{
	"/graphql",
	"/auth/",
	"/.well-known/",
	"/webhooks/",
	"/healthz",
	"/readyz",
	"/metrics",
	"/v1/",
}

// spaRoutesUnderReserved are SPA routes that live under a reserved prefix.
var spaRoutesUnderReserved = map[string]bool{"/auth/complete": true}

// Handler returns the handler that serves the embedded dashboard.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub only fails on an invalid path; "dist" is a constant.
		panic(err)
	}
	return newHandler(sub)
}

// spa serves one build of the dashboard from files.
type spa struct {
	files fs.FS
	index []byte // nil when the dashboard has not been built
	etag  string
}

// newHandler builds the handler over any file system laid out like dist/;
// tests pass an fstest.MapFS.
func newHandler(files fs.FS) *spa {
	h := &spa{files: files}
	if b, err := fs.ReadFile(files, indexFile); err == nil {
		sum := sha256.Sum256(b)
		h.index = b
		h.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
	return h
}

func (h *spa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if reserved(p) {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" || name == indexFile {
		h.serveIndex(w, r)
		return
	}
	if fi, err := fs.Stat(h.files, name); err == nil && fi.Mode().IsRegular() {
		if strings.HasPrefix(name, assetsDir) {
			w.Header().Set("Cache-Control", cacheImmutable)
		} else {
			w.Header().Set("Cache-Control", cacheRevalidate)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.serveFile(w, r, name, fi)
		return
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// A missing asset (anything with an extension, or under assets/) is a
	// 404: answering HTML for a script breaks the page in confusing ways.
	if strings.HasPrefix(name, assetsDir) || path.Ext(name) != "" {
		w.Header().Set("Cache-Control", cacheRevalidate)
		http.NotFound(w, r)
		return
	}
	h.serveIndex(w, r)
}

func (h *spa) serveIndex(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if h.index == nil {
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "the dashboard is not built: run `make build` (npm run build in web/)", http.StatusServiceUnavailable)
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", cacheRevalidate)
	hdr.Set("ETag", h.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, indexFile, time.Time{}, bytes.NewReader(h.index))
}

// serveFile serves one regular file by its cleaned name. It uses
// ServeContent rather than ServeFileFS, which rejects any request path that
// contained "..", even one that cleans to a real file.
func (h *spa) serveFile(w http.ResponseWriter, r *http.Request, name string, fi fs.FileInfo) {
	f, err := h.files.Open(name)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		rs = bytes.NewReader(b)
	}
	http.ServeContent(w, r, name, fi.ModTime(), rs)
}

func reserved(p string) bool {
	if spaRoutesUnderReserved[p] {
		return false
	}
	for _, pre := range reservedPrefixes {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}
