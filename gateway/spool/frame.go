package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A frame on disk is
//
//	[4]byte  little-endian payload length
//	[4]byte  little-endian CRC-32C (Castagnoli) of the payload
//	[n]byte  payload: the JSON of one usage.Record
//
// The CRC covers the payload only; a corrupt length is caught because it points
// the CRC at the wrong bytes, and by the bounds below. Every header holds a 0x00
// byte (lengths stay below 2^24) and JSON never does (it escapes control
// characters), so text a client chose, say a model name, cannot pass for a
// header when the reader resynchronises after corruption.
const (
	frameHeader = 8
	// maxPayload bounds one record. A usage record is a few hundred bytes; the
	// bound keeps a corrupt length from sending the reader on a long CRC, and
	// readChunk must hold one whole frame: raise both together.
	maxPayload = 64 << 10
	// readChunk is how much of a segment the reader reads at a time.
	readChunk = 256 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameStatus says what parseFrame found at the start of a buffer.
type frameStatus int

const (
	frameOK    frameStatus = iota // a whole, valid frame
	frameShort                    // could be valid, but the buffer ends before the frame does
	frameBad                      // not a frame: impossible length or CRC mismatch
)

// putHeader fills the 8-byte header in front of payload.
func putHeader(frame []byte) {
	payload := frame[frameHeader:]
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
}

// parseFrame reads the frame at the start of b and returns its payload and
// its size on disk (header included) when the status is frameOK.
func parseFrame(b []byte) (payload []byte, size int, st frameStatus) {
	if len(b) < frameHeader {
		return nil, 0, frameShort
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	// Every payload is a JSON object, so checking its first byte is a cheap
	// filter that spares most garbage positions a CRC while resynchronising.
	if n == 0 || n > maxPayload || (len(b) > frameHeader && b[frameHeader] != '{') {
		return nil, 0, frameBad
	}
	size = frameHeader + int(n)
	if len(b) < size {
		return nil, 0, frameShort
	}
	payload = b[frameHeader:size]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, frameBad
	}
	return payload, size, frameOK
}

// scanFrames reads the frames of r between off and limit, calling visit for
// each valid one in order (payload is only valid during the call) and corrupt
// for each stretch of bytes that holds no valid frame; a stretch that reaches
// limit is a torn or corrupt tail. visit returns false to stop before the frame
// it was given. buf is a reusable read buffer.
//
// scanFrames returns the offset where a later scan should resume: the frame
// visit refused, or limit. Frames are never split, so that offset is always a
// frame boundary, which is what a checkpoint must hold.
func scanFrames(r io.ReaderAt, off, limit int64, buf *[]byte,
	visit func(off int64, payload []byte) bool, corrupt func(from, to int64)) (int64, error) {
	if len(*buf) < readChunk {
		*buf = make([]byte, readChunk)
	}
	pos := off
	badFrom := int64(-1) // start of the corrupt stretch being skipped, or -1
	for pos < limit {
		want := int(min(int64(readChunk), limit-pos))
		n, err := r.ReadAt((*buf)[:want], pos)
		if n < want && err != nil && !errors.Is(err, io.EOF) {
			return pos, fmt.Errorf("read at offset %d: %w", pos, err)
		}
		chunk := (*buf)[:n]
		// A short read means the file ends before limit (it was cut under
		// us); the missing part is then a tail like any other.
		atEnd := n < want || pos+int64(n) == limit
		i := 0
	frames:
		for i < len(chunk) {
			payload, size, st := parseFrame(chunk[i:])
			switch st {
			case frameOK:
				if badFrom >= 0 {
					corrupt(badFrom, pos+int64(i))
					badFrom = -1
				}
				if !visit(pos+int64(i), payload) {
					return pos + int64(i), nil
				}
				i += size
			case frameShort:
				if !atEnd {
					// Read again from here: a chunk holds any whole frame,
					// so the next pass decides.
					break frames
				}
				if badFrom < 0 {
					badFrom = pos + int64(i)
				}
				i = len(chunk)
			case frameBad:
				if badFrom < 0 {
					badFrom = pos + int64(i)
				}
				i++
			}
		}
		pos += int64(i)
		if n < want {
			break
		}
	}
	if badFrom < 0 && pos < limit {
		badFrom = pos
	}
	if badFrom >= 0 {
		corrupt(badFrom, limit)
	}
	return limit, nil
}
