package httpapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"example.com/acme/internal/domain"
)

// Lists in creation order page by keyset: the cursor is the position of a
// page's last item, its creation time in microseconds (Postgres' precision)
// and its id, made opaque.

// encodeCursor returns the cursor of the item created at createdAt with id.
func encodeCursor(createdAt time.Time, id string) string {
	raw := strconv.FormatInt(createdAt.UnixMicro(), 10) + "." + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor; "" is the start of the list.
func decodeCursor(cursor string) (domain.Position, error) {
	if cursor == "" {
		return domain.Position{}, nil
	}
	invalid := domain.Errorf(domain.EINVALID, "cursor is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return domain.Position{}, invalid
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !isUUID(id) {
		return domain.Position{}, invalid
	}
	return domain.Position{CreatedAt: time.UnixMicro(n), ID: id}, nil
}

// isUUID reports whether s is a UUID in its canonical text form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// page cuts one item beyond limit off items (the lists ask for limit+1) and
// returns the cursor of the next page, or "" on the last one.
func page[T any](items []T, limit int, position func(T) (time.Time, string)) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(position(items[limit-1]))
}
