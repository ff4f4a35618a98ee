package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A full map makes room by dropping what expired first, and only when
// that is not enough an eighth of what is left: never everything at once.
func TestExpiringFullMapDropsAnEighth(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_000_000, 0)}
	m := newExpiring[int, int](time.Minute, 16, clk.now)
	for k := range 16 {
		m.put(k, k)
	}
	m.put(16, 16)
	require.Len(t, m.entries, 16-2+1, "two of the sixteen dropped, the new one in")
	_, ok := m.get(16)
	require.True(t, ok)

	// Half of them older: once they have expired, they alone make room.
	m = newExpiring[int, int](time.Minute, 16, clk.now)
	for k := range 8 {
		m.put(k, k)
	}
	clk.advance(30 * time.Second)
	for k := 8; k < 16; k++ {
		m.put(k, k)
	}
	clk.advance(30 * time.Second) // the first eight expire
	m.put(16, 16)
	require.Len(t, m.entries, 9, "the eight expired entries made room; nothing else went")
	for k := 8; k <= 16; k++ {
		_, ok := m.get(k)
		require.True(t, ok, "entry %d is kept", k)
	}
}
