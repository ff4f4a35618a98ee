package config

// Broker is the configuration of the job broker, River on the app's own
// database: it needs no setting of its own.
type Broker struct {
	// Namespace names the application's River clients: the app's name.
	Namespace string
}

func (l *loader) broker() Broker {
	return Broker{Namespace: "acme"}
}
