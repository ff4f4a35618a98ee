package config

// Broker is the configuration of the job broker, asynq on Redis.
type Broker struct {
	// URL is the Redis server (REDIS_URL).
	URL string
	// Namespace prefixes the names the jobs use in Redis (asynq queue
	// names), so that deployments sharing one server stay apart
	// (JOBS_NAMESPACE).
	Namespace string
}

func (l *loader) broker() Broker {
	return Broker{
		URL:       l.url(l.required("REDIS_URL"), "redis", "rediss", "unix"),
		Namespace: l.label(l.optional("JOBS_NAMESPACE", "shop-api")),
	}
}
