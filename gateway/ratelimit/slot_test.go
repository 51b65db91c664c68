package ratelimit

import "testing"

// TestHashSlot checks hashSlot against the Redis Cluster specification's
// examples and values CLUSTER KEYSLOT gives.
func TestHashSlot(t *testing.T) {
	for _, tc := range []struct {
		name, key, sameAs string
		want              int // -1: only compare with sameAs
	}{
		{name: "crc16 check value", key: "123456789", want: 12739},
		{name: "plain key", key: "foo", want: 12182},
		{name: "tag", key: "{user1000}.following", sameAs: "user1000", want: -1},
		{name: "same tag, other key", key: "{user1000}.followers", sameAs: "{user1000}.following", want: -1},
		{name: "first tag only", key: "foo{bar}{zap}", sameAs: "bar", want: -1},
		{name: "empty tag hashes the whole key", key: "foo{}{bar}", want: int(hashSlot("foo{}{bar}"))},
		{name: "tag up to the first closing brace", key: "foo{{bar}}zap", sameAs: "{bar", want: -1},
		{name: "no closing brace", key: "foo{bar", sameAs: "foo{bar", want: -1},
		{name: "gateway workspace counter", key: "oais:rl:ws:{ws_1}:rpm:w60000:b60", sameAs: "oais:rl:key:{ws_1}:key_9:req:c", want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hashSlot(tc.key)
			if tc.want >= 0 && int(got) != tc.want {
				t.Errorf("hashSlot(%q) = %d, want %d", tc.key, got, tc.want)
			}
			if tc.sameAs != "" && got != hashSlot(tc.sameAs) {
				t.Errorf("hashSlot(%q) = %d, want hashSlot(%q) = %d", tc.key, got, tc.sameAs, hashSlot(tc.sameAs))
			}
		})
	}
}
