package ratelimit

import (
	"errors"
	"strings"
)

// ErrCrossSlot is returned, on Redis Cluster only, for a call whose
// counters hash to different slots: one script call can only touch keys of
// one slot. Give the counters of one request a common hash tag, as the
// gateway does with its workspace id ("ws:{ws_…}:rpm", "key:{ws_…}:…").
var ErrCrossSlot = errors.New("ratelimit: redis cluster: the counters of one call must share a hash tag ({…}) so they hash to one slot")

// clusterSlots is Redis Cluster's number of hash slots.
const clusterSlots = 16384

// hashSlot is the Redis Cluster slot of key: CRC16 (XMODEM) of its hash
// tag, the part between the first "{" and the next "}" when that is not
// empty, else of the whole key, modulo 16384 (the cluster specification's
// HASH_SLOT).
func hashSlot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[i]]
	}
	return crc % clusterSlots
}

// crc16Table is CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), one
// entry per byte value.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()
