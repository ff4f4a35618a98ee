package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/logging"
)

func TestContextAttributesAppearOnEveryLine(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger := logging.New(&buf, slog.LevelInfo, logging.JSON).With(slog.String("component", "test"))
	ctx := logging.With(t.Context(), slog.String("request_id", "req-1"))
	ctx = logging.With(ctx, slog.String("tenant", "globex"))

	logger.InfoContext(ctx, "first")
	logger.WarnContext(ctx, "second", slog.Int("n", 2))
	logger.DebugContext(ctx, "dropped below the level")
	logger.InfoContext(t.Context(), "no request")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	for i, line := range lines[:2] {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "line %d", i)
		require.Equal(t, "req-1", rec["request_id"])
		require.Equal(t, "globex", rec["tenant"])
		require.Equal(t, "test", rec["component"])
	}
	require.NotContains(t, lines[2], "request_id")
}

func TestTextFormat(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger := logging.New(&buf, slog.LevelDebug, logging.Text)
	logger.DebugContext(logging.With(t.Context(), slog.String("request_id", "r2")), "hello")
	require.Contains(t, buf.String(), "level=DEBUG msg=hello request_id=r2")
}
