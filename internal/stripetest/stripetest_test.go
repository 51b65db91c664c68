package stripetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestProxyModes(t *testing.T) {
	backend := Start(t)
	proxy := NewProxy(t, backend)
	rec := &RecordingTransport{}
	client := &http.Client{Transport: rec}

	tests := []struct {
		name          string
		mode          Mode
		wantStatus    int // 0: a transport error
		wantForwarded bool
	}{
		{"up", Up, http.StatusOK, true},
		{"refuse", Refuse, 0, false},
		{"bad gateway", BadGateway, http.StatusBadGateway, false},
		{"lose response", LoseResponse, http.StatusBadGateway, true},
		{"up again", Up, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.SetMode(tt.mode)
			before := len(proxy.Forwarded())
			form := url.Values{"email": {"a@example.com"}, "metadata[case]": {tt.name}}
			req, err := http.NewRequest(http.MethodPost, proxy.URL+"/v1/customers", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer sk_test_123")
			req.Header.Set("Idempotency-Key", "k-"+tt.name)
			resp, err := client.Do(req)
			if tt.wantStatus == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d, want a transport error", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
				}
			}

			got := rec.Requests()[len(rec.Requests())-1]
			if got.Method != http.MethodPost || got.Path != "/v1/customers" || got.Form.Get("metadata[case]") != tt.name || got.IdempotencyKey != "k-"+tt.name {
				t.Fatalf("recorded %+v", got)
			}
			if got.OK() != (tt.wantStatus == http.StatusOK) {
				t.Fatalf("recorded OK() = %v for status %d", got.OK(), got.Status)
			}
			if forwarded := len(proxy.Forwarded()) > before; forwarded != tt.wantForwarded {
				t.Fatalf("forwarded = %v, want %v", forwarded, tt.wantForwarded)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	p, err := Binary()
	if err != nil {
		t.Fatalf("Binary: %v (install with %s)", err, InstallCommand)
	}
	if !strings.HasSuffix(p, "stripe-mock") {
		t.Fatalf("Binary = %q", p)
	}
}
