package config

import "strings"

// Broker is the configuration of the job broker, NATS JetStream.
type Broker struct {
	// URL names the NATS servers, comma-separated (NATS_URL).
	URL string
	// Namespace prefixes the names the jobs use in NATS (stream, subject,
	// consumer and bucket names), so that deployments sharing one server
	// stay apart (JOBS_NAMESPACE).
	Namespace string
}

func (l *loader) broker() Broker {
	return Broker{
		URL:       l.urlList(l.required("NATS_URL"), "nats", "tls", "ws", "wss"),
		Namespace: l.label(l.optional("JOBS_NAMESPACE", "ledger")),
	}
}

// urlList checks a comma-separated list of URLs, each as url does.
func (l *loader) urlList(v variable, schemes ...string) string {
	if !v.ok {
		return ""
	}
	for part := range strings.SplitSeq(v.value, ",") {
		if l.url(variable{name: v.name, value: strings.TrimSpace(part), ok: true}, schemes...) == "" {
			return ""
		}
	}
	return v.value
}
