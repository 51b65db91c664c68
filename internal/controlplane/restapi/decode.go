package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/userinput"
)

// CreateBody is POST /api/v1/keys's body: createAPIKey's input in snake_case.
type CreateBody struct {
	Label            string     `json:"label"`
	ExpiresAt        *time.Time `json:"expires_at"`
	DurationHours    *int64     `json:"duration_hours"`
	MaxRequests      *int64     `json:"max_requests"`
	CreditQuotaCents *int64     `json:"credit_quota_cents"`
	AllowedModels    []string   `json:"allowed_models"`
	IPAllowlist      []string   `json:"ip_allowlist"`
	RPM              *int64     `json:"rpm"`
	TPM              *int64     `json:"tpm"`
	CacheEnabled     *bool      `json:"cache_enabled"`
}

// readBody reads the whole (bounded) body; an empty one is an error.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err // *http.MaxBytesError past MaxBody
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, userinput.Errorf("body", "send the key's settings as a JSON object, e.g. {\"label\":\"ci\"}")
	}
	return b, nil
}

// jsonError turns a decoding error into input the user can correct.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tm *time.ParseError
	switch {
	case errors.As(err, &typ):
		return userinput.Errorf(typ.Field, "expected %s, got a JSON %s", kind(typ.Type.String()), typ.Value)
	case errors.As(err, &tm):
		return userinput.Errorf("body", "times are RFC 3339, e.g. 2030-01-02T15:04:05Z")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return userinput.Errorf("body", "not valid JSON: %v", err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return userinput.Errorf(f, "unknown field %q; the fields are described at %s", f, OpenAPIPath)
	}
	return userinput.Errorf("body", "not a JSON object of key settings: %v", err)
}

func kind(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list of strings"
	case strings.Contains(goType, "Time"):
		return "an RFC 3339 time"
	}
	return "a string"
}

func decodeCreate(r *http.Request) (apikeys.CreateParams, error) {
	var p apikeys.CreateParams
	b, err := readBody(r)
	if err != nil {
		return p, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in CreateBody
	if err := dec.Decode(&in); err != nil {
		return p, jsonError(err)
	}
	if dec.More() {
		return p, userinput.Errorf("body", "send one JSON object")
	}
	p.Label, p.DurationHours, p.CreditQuotaCents = in.Label, in.DurationHours, in.CreditQuotaCents
	p.ExpiresAt, p.AllowedModels, p.IPAllowlist, p.RPM, p.TPM = in.ExpiresAt, in.AllowedModels, in.IPAllowlist, in.RPM, in.TPM
	if in.MaxRequests != nil {
		p.MaxRequests = *in.MaxRequests
	}
	if in.CacheEnabled != nil {
		p.CacheEnabled = *in.CacheEnabled
	}
	return p, nil
}

// patchParams are a PATCH's changes: updateAPIKey's, and whether to revoke.
type patchParams struct {
	apikeys.UpdateParams
	update bool // some field besides {"status":"REVOKED"}
	revoke bool
}

// decodePatch reads a JSON merge patch (RFC 7396) of a key's settings: an
// absent field stays as it is, null clears it (no expiry, no limit, every
// model, any address, no quota).
func decodePatch(r *http.Request) (patchParams, error) {
	var p patchParams
	b, err := readBody(r)
	if err != nil {
		return p, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return p, jsonError(err)
	}
	u := &p.UpdateParams
	zero := int64(0)
	for name, raw := range fields {
		null := string(bytes.TrimSpace(raw)) == "null"
		var err error
		switch name {
		case "label":
			err = value(name, raw, &u.Label)
		case "status":
			var s string
			if err = value(name, raw, &s); err != nil {
				break
			}
			switch st := keys.Status(s); st {
			case keys.StatusRevoked:
				p.revoke = true
				continue
			case keys.StatusActive, keys.StatusDisabled:
				u.Status = &st
			default:
				err = userinput.Errorf("status", "must be ACTIVE (enable or re-activate), DISABLED or REVOKED; an expired key stays expired")
			}
		case "expires_at":
			if null {
				u.ClearExpiresAt = true
			} else {
				err = value(name, raw, &u.ExpiresAt)
			}
		case "max_requests":
			err = nullable(name, raw, null, &u.MaxRequests, &zero)
		case "rpm":
			err = nullable(name, raw, null, &u.RPM, &zero)
		case "tpm":
			err = nullable(name, raw, null, &u.TPM, &zero)
		case "credit_quota_cents":
			err = nullable(name, raw, null, &u.CreditQuotaCents, &zero)
		case "allowed_models":
			u.AllowedModels = []string{}
			if !null {
				err = value(name, raw, &u.AllowedModels)
			}
		case "ip_allowlist":
			u.IPAllowlist = []string{}
			if !null {
				err = value(name, raw, &u.IPAllowlist)
			}
		case "cache_enabled":
			err = value(name, raw, &u.CacheEnabled)
		default:
			err = userinput.Errorf(name, "unknown field %q; the fields are described at %s", name, OpenAPIPath)
		}
		if err != nil {
			return p, err
		}
		p.update = true
	}
	return p, nil
}

// value decodes one non-null field.
func value[T any](name string, raw json.RawMessage, dst *T) error {
	if string(bytes.TrimSpace(raw)) == "null" {
		return userinput.Errorf(name, "cannot be null")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return userinput.Errorf(name, "expected %s, got a JSON %s", kind(typ.Type.String()), typ.Value)
		}
		return jsonError(err)
	}
	return nil
}

// nullable decodes a number whose null means ifNull.
func nullable(name string, raw json.RawMessage, null bool, dst **int64, ifNull *int64) error {
	if null {
		*dst = ifNull
		return nil
	}
	return value(name, raw, dst)
}
