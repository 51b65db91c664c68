package restapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode"

	"github.com/oais/oais/graph"
)

// ErrorBody is every error answer: {"error":{"code","message","field"}}.
// Code is GraphQL's extensions.code for the same failure.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error itself; Field names the input at fault, if one.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// HTTPStatus is the status of an answer with code: the REST face's one
// mapping, on top of graph.Present's (which turns domain errors into codes
// and messages for both transports).
func HTTPStatus(code string) int {
	switch code {
	case graph.CodeBadInput:
		return http.StatusBadRequest
	case graph.CodeUnauthenticated:
		return http.StatusUnauthorized
	case graph.CodeForbidden, graph.CodeMFARequired:
		return http.StatusForbidden
	case graph.CodeNotFound:
		return http.StatusNotFound
	case graph.CodeConflict, graph.CodeKeyLimit, graph.CodeKeyExpired, graph.CodeWorkspaceInactive:
		return http.StatusConflict
	case graph.CodeThrottled:
		return http.StatusTooManyRequests
	case graph.CodeUnavailable:
		return http.StatusServiceUnavailable
	case graph.CodeInternal:
		return http.StatusInternalServerError
	}
	// Any other code names something the client must change.
	return http.StatusBadRequest
}

// fail answers err. Internal details are logged, never shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, graph.CodeBadInput, "The request body is larger than 64 KiB; send only the settings you change.", "")
		return
	}
	p := graph.Present(err)
	if (p.Code == graph.CodeInternal || p.Code == graph.CodeUnavailable) && a.Log != nil {
		a.Log.ErrorContext(r.Context(), "REST request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, HTTPStatus(p.Code), p.Code, p.Message, snake(p.Field))
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="oais"`)
	}
	writeJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg, Field: field}})
}

// snake turns the domain's GraphQL input names (expiresAt) into the REST
// face's (expires_at).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
