package config

// label accepts one lowercase DNS-style label: letters, digits, hyphens.
// A broker with a server of its own namespaces the jobs with one
// (JOBS_NAMESPACE), so deployments sharing the server stay apart.
func (l *loader) label(v variable) string {
	if !validLabel(v.value) {
		l.fail(v.name, "must be lowercase letters, digits and hyphens, at most 63 (got %q)", v.value)
		return ""
	}
	return v.value
}
