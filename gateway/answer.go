package gateway

import (
	"encoding/binary"
	"errors"
	"net/http"
)

// StoredAnswer is an answer kept to be served again: by the response cache
// (Cache) to an identical request, and to an Idempotency-Key retry
// (IdempotencyStore). One returned by a store may share its memory: treat
// it as read-only.
type StoredAnswer struct {
	Status      int
	ContentType string
	Body        []byte
	// PromptTokens and CompletionTokens are the answer's usage when it was
	// made; a cache hit records them again (at no cost).
	PromptTokens     int64
	CompletionTokens int64
}

// ErrCorruptAnswer is returned by DecodeStoredAnswer for bytes that are not
// an encoded StoredAnswer of this version.
var ErrCorruptAnswer = errors.New("gateway: corrupt stored answer")

// storedAnswerVersion leads every encoding, so a format change reads old
// values as corrupt (a miss) rather than as garbage.
const storedAnswerVersion = 1

// AppendEncoded appends a's encoding, the one every shared store (Redis)
// keeps: version byte, uvarint status, prompt and completion tokens,
// content-type length and bytes, then the raw body. Only lengths delimit
// fields, so any body bytes are safe.
func (a *StoredAnswer) AppendEncoded(b []byte) []byte {
	ct := a.ContentType
	b = append(b, storedAnswerVersion)
	b = binary.AppendUvarint(b, uint64(a.Status))
	b = binary.AppendUvarint(b, uint64(a.PromptTokens))
	b = binary.AppendUvarint(b, uint64(a.CompletionTokens))
	b = binary.AppendUvarint(b, uint64(len(ct)))
	b = append(b, ct...)
	return append(b, a.Body...)
}

// EncodedLen is the length AppendEncoded appends at most.
func (a *StoredAnswer) EncodedLen() int {
	return 1 + 4*binary.MaxVarintLen64 + len(a.ContentType) + len(a.Body)
}

// DecodeStoredAnswer reads what AppendEncoded wrote. The answer's Body
// shares b's memory.
func DecodeStoredAnswer(b []byte) (StoredAnswer, error) {
	if len(b) == 0 || b[0] != storedAnswerVersion {
		return StoredAnswer{}, ErrCorruptAnswer
	}
	b = b[1:]
	var fields [4]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return StoredAnswer{}, ErrCorruptAnswer
		}
		fields[i], b = v, b[n:]
	}
	ctLen := fields[3]
	if ctLen > uint64(len(b)) {
		return StoredAnswer{}, ErrCorruptAnswer
	}
	return StoredAnswer{
		Status:           int(fields[0]),
		ContentType:      string(b[:ctLen]),
		Body:             b[ctLen:],
		PromptTokens:     int64(fields[1]),
		CompletionTokens: int64(fields[2]),
	}, nil
}

// writeTo replays a stored answer to an Idempotency-Key retry.
func (a *StoredAnswer) writeTo(w http.ResponseWriter) {
	h := w.Header()
	if a.ContentType != "" {
		h.Set("Content-Type", a.ContentType)
	}
	h.Set("Idempotent-Replayed", "true")
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}
