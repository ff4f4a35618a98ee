// Package logging builds the application's slog loggers and carries
// request-scoped attributes (request id, and later tenant and user) in the
// context, so every line logged with a request's context names them.
package logging

import (
	"context"
	"io"
	"log/slog"
)

// Format selects how log lines are written.
type Format int

const (
	// JSON writes one JSON object per line, for production.
	JSON Format = iota
	// Text writes human-readable key=value lines, for local development.
	Text
)

// New returns a logger writing to w at the given minimum level. Records
// logged with a context carrying attributes (see With) include them.
func New(w io.Writer, level slog.Leveler, format Format) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == Text {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h})
}

type attrsKey struct{}

// With returns a copy of ctx that adds attrs to every record logged with it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(all, prev...)
	all = append(all, attrs...)
	return context.WithValue(ctx, attrsKey{}, all)
}

// contextHandler adds the attributes stored in a record's context.
type contextHandler struct {
	slog.Handler
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(attrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
