package domain

import "context"

// Client is who is at the other end of a request, as the audit log
// records it: the client's address (see the HTTP middleware's trusted
// proxies) and its User-Agent.
type Client struct {
	IP        string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying the request's client.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client WithClient put in ctx; the zero Client
// outside a request.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
