package postgres

import (
	"sync"
	"time"
)

// expiring is a map whose entries are forgotten ttl after they were put,
// holding at most max of them: a put into a full map first drops what
// expired, then, if it is still full, an arbitrary eighth of the entries.
// The bound is a safety net against keys without end, not a tuning knob;
// a working set that outgrows it loses an eighth of its entries, not all
// of them at once, and a flood of new keys costs a scan every max/8 puts.
type expiring[K comparable, V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	entries map[K]expiringEntry[V]
}

type expiringEntry[V any] struct {
	value   V
	expires time.Time
}

func newExpiring[K comparable, V any](ttl time.Duration, maxEntries int, now func() time.Time) *expiring[K, V] {
	return &expiring[K, V]{ttl: ttl, max: maxEntries, now: now, entries: map[K]expiringEntry[V]{}}
}

// get returns the value put for k, unless it expired.
func (m *expiring[K, V]) get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, k)
		ok = false
	}
	return e.value, ok
}

// put remembers v for k, for the map's ttl from now.
func (m *expiring[K, V]) put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.entries) >= m.max {
		for key, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, key)
			}
		}
		drop := len(m.entries) - m.max + max(m.max/8, 1)
		for key := range m.entries { // Go's map order: arbitrary
			if drop <= 0 {
				break
			}
			delete(m.entries, key)
			drop--
		}
	}
	m.entries[k] = expiringEntry[V]{value: v, expires: now.Add(m.ttl)}
}

// forget drops k.
func (m *expiring[K, V]) forget(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, k)
}

// forgetAll drops every entry.
func (m *expiring[K, V]) forgetAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
}
