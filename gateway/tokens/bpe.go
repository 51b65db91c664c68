package tokens

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// bpe counts tokens with one of OpenAI's BPE tables, as tiktoken's
// encode_ordinary does (the same pre-tokenizing pattern, the same merges,
// so the same count: TestBPEMatchesTiktoken), from a table the garbage
// collector does not scan.
//
// tiktoken-go keeps a table as Go maps of strings, both ways: o200k_base
// and cl100k_base together are 441,520 heap objects that every collection
// marks, which made each of the gateway's collections cost 21-28 ms of CPU
// where the bare proxy's cost 2.4 ms, and its p99 at 2,000 requests a second
// follow (docs/benchmarks.md). Here a table is one byte arena holding every
// token's bytes and an open-addressing index of offsets and ranks: two
// pointer-free slices, about 9 MiB for both tables.
type bpe struct {
	arena []byte    // every token's bytes, back to back
	slots []bpeSlot // open addressing; len is a power of two
	mask  uint64
	seed  maphash.Seed
	name  Encoding
	// piece is the pre-tokenizer for ASCII texts (ascii.go): the end of
	// the piece that starts at i; pieceUnicode is the one for any valid
	// UTF-8 (unicode.go).
	piece, pieceUnicode func(s string, i int) int
}

// bpeSlot is one token: its bytes are arena[off:off+n]; rank+1, 0 for an
// empty slot.
type bpeSlot struct {
	off  uint32
	rank uint32
	n    uint32
}

// loadBPE reads table e from the copies tiktoken-go-loader embeds
// ("<name>.tiktoken": one "<base64 token> <rank>" line per token).
func loadBPE(e Encoding) (*bpe, error) {
	if e != O200K && e != CL100K {
		return nil, fmt.Errorf("tokens: no pre-tokenizer for %s", e)
	}
	loadClasses()
	raw, err := assets.Assets.ReadFile(string(e) + ".tiktoken")
	if err != nil {
		return nil, err
	}
	n := bytes.Count(raw, []byte("\n")) + 1
	size := 1 << bits.Len(uint(2*n)) // load factor under one half
	t := &bpe{
		piece: pieceO200K, pieceUnicode: pieceO200KUnicode,
		arena: make([]byte, 0, len(raw)/2),
		slots: make([]bpeSlot, size),
		mask:  uint64(size - 1),
		seed:  maphash.MakeSeed(),
		name:  e,
	}
	if e == CL100K {
		t.piece, t.pieceUnicode = pieceCL100K, pieceCL100KUnicode
	}
	var tok []byte
	for line := range bytes.Lines(raw) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) == 0 {
			continue
		}
		b64, rankText, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			return nil, fmt.Errorf("tokens: %s: bad line %q", e, line)
		}
		tok = slices.Grow(tok[:0], base64.StdEncoding.DecodedLen(len(b64)))[:base64.StdEncoding.DecodedLen(len(b64))]
		m, err := base64.StdEncoding.Decode(tok, b64)
		if err != nil {
			return nil, fmt.Errorf("tokens: %s: %w", e, err)
		}
		rank, err := strconv.ParseUint(string(rankText), 10, 32)
		if err != nil || rank >= math.MaxUint32 || len(t.arena)+m > math.MaxUint32 {
			return nil, fmt.Errorf("tokens: %s: bad line %q", e, line)
		}
		if _, dup := t.rank(string(tok[:m])); dup {
			return nil, fmt.Errorf("tokens: %s: token %q twice", e, tok[:m])
		}
		t.insert(tok[:m], uint32(rank))
	}
	return t, nil
}

func (t *bpe) insert(tok []byte, rank uint32) {
	off := uint32(len(t.arena))
	t.arena = append(t.arena, tok...)
	for i := maphash.Bytes(t.seed, tok) & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].rank == 0 {
			t.slots[i] = bpeSlot{off: off, rank: rank + 1, n: uint32(len(tok))}
			return
		}
	}
}

// rank is p's rank, if p is a token.
func (t *bpe) rank(p string) (int, bool) {
	for i := maphash.String(t.seed, p) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.rank == 0 {
			return 0, false
		}
		if int(s.n) == len(p) && string(t.arena[s.off:s.off+s.n]) == p {
			return int(s.rank - 1), true
		}
	}
}

// count is how many tokens tiktoken's encode_ordinary makes of s.
func (t *bpe) count(s string) int {
	piece := t.piece
	if !isASCII(s) {
		if !utf8.ValidString(s) {
			// tiktoken-go cuts pieces from []rune(s), which turns each
			// invalid byte into U+FFFD; count what it counts.
			s = string([]rune(s))
		}
		piece = t.pieceUnicode
	}
	n := 0
	for i := 0; i < len(s); {
		j := piece(s, i)
		n += t.countPiece(s[i:j])
		i = j
	}
	return n
}

// countPiece counts one pre-tokenized piece: one token if the table has it
// whole, else what tiktoken's byte-pair merge leaves (lowest rank first,
// the leftmost of equal ranks, as tiktoken-go's bytePairMerge).
func (t *bpe) countPiece(p string) int {
	if len(p) <= 1 {
		return len(p) // every single byte is a token
	}
	if _, ok := t.rank(p); ok {
		return 1
	}
	// parts[i] is a boundary: its start in p and the rank of the pair
	// starting there (math.MaxInt: none).
	var buf [64][2]int
	parts := buf[:0]
	if len(p)+1 > len(buf) {
		parts = make([][2]int, 0, len(p)+1)
	}
	for i := 0; i <= len(p); i++ {
		parts = append(parts, [2]int{i, math.MaxInt})
	}
	rankAt := func(i, skip int) int {
		if i+skip+2 < len(parts) {
			if r, ok := t.rank(p[parts[i][0]:parts[i+skip+2][0]]); ok {
				return r
			}
		}
		return math.MaxInt
	}
	for i := 0; i < len(parts)-2; i++ {
		parts[i][1] = rankAt(i, 0)
	}
	for len(parts) > 1 {
		minRank, i := math.MaxInt, -1
		for j := 0; j < len(parts)-1; j++ {
			if parts[j][1] < minRank {
				minRank, i = parts[j][1], j
			}
		}
		if i < 0 {
			break
		}
		parts[i][1] = rankAt(i, 1)
		if i > 0 {
			parts[i-1][1] = rankAt(i-1, 1)
		}
		parts = append(parts[:i+1], parts[i+2:]...)
	}
	return len(parts) - 1
}
