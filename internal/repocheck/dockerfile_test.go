package repocheck

import "testing"

// appDockerfile is what the product promises a generated Dockerfile looks
// like; the broken cases below are edits of it.
const appDockerfile = `# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/acme ./cmd/acme

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/acme /usr/local/bin/acme
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/acme"]
CMD ["serve"]
`

func TestDockerfile(t *testing.T) {
	t.Parallel()
	if err := Dockerfile([]byte(appDockerfile)); err != nil {
		t.Fatalf("valid Dockerfile: %v", err)
	}

	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"empty", "# nothing\n", []string{"file with no instructions"}},
		{"unknown instruction", replace(t, appDockerfile, "WORKDIR /src", "WORKDIRR /src"),
			[]string{"line 4", "unknown instruction: WORKDIRR", "did you mean WORKDIR?"}},
		{"missing argument", replace(t, appDockerfile, "COPY . .", "COPY ."),
			[]string{"line 7", "COPY requires at least two arguments"}},
		{"instruction before FROM", "WORKDIR /src\nFROM scratch\n",
			[]string{"no build stage in current context"}},
		{"no FROM", "ARG X=1\n", []string{"no FROM instruction"}},
		{"empty continuation line", replace(t, appDockerfile, "COPY . .", "RUN echo a && \\\n\n  echo b\nCOPY . ."),
			[]string{"Empty continuation line"}},
		{"FROM and AS casing differ", replace(t, appDockerfile, "AS build", "as build"),
			[]string{"line 3", "FromAsCasing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantErr(t, Dockerfile([]byte(tt.content)), tt.want...)
		})
	}
}

func TestCheckAppDockerfile(t *testing.T) {
	t.Parallel()
	const nonrootDigest = "gcr.io/distroless/static-debian12:nonroot@sha256:6ec5aa99dc335666e79dc64e4a6c8b89c33a543a1967f20d360922a80dd21f02"
	valid := []struct{ name, content string }{
		{"as generated", appDockerfile},
		{"CGO_ENABLED by ENV", replace(t, appDockerfile, "RUN CGO_ENABLED=0 go build", "ENV CGO_ENABLED=0\nRUN go build")},
		{"CGO_ENABLED by ENV in the parent stage", replace(t, appDockerfile,
			"COPY . .\nRUN CGO_ENABLED=0 go build",
			"ENV CGO_ENABLED=0\nFROM build AS compile\nCOPY . .\nRUN go build")},
		{"go build in a heredoc", replace(t, appDockerfile,
			`RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/acme ./cmd/acme`,
			"RUN <<EOF\nset -e\nCGO_ENABLED=0 go build -o /out/acme ./cmd/acme\nEOF")},
		{"USER instead of the nonroot tag", replace(t, appDockerfile,
			"static-debian12:nonroot\n", "static-debian12\nUSER 65532:65532\n")},
		{"pinned by digest", replace(t, appDockerfile, "gcr.io/distroless/static-debian12:nonroot", nonrootDigest)},
		{"base from a global ARG", replace(t, appDockerfile,
			"ARG GO_VERSION=1.26\n", "ARG GO_VERSION=1.26\nARG RUNTIME=gcr.io/distroless/base-debian12:nonroot\n",
			"FROM gcr.io/distroless/static-debian12:nonroot", "FROM ${RUNTIME}")},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := CheckAppDockerfile([]byte(tt.content), "acme"); err != nil {
				t.Errorf("want no error, got:\n%v", err)
			}
		})
	}

	broken := []struct {
		name    string
		content string
		want    []string
	}{
		{"syntax error first", replace(t, appDockerfile, "FROM golang", "FROMM golang"),
			[]string{"unknown instruction: FROMM"}},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY acme /acme\nENTRYPOINT [\"/acme\"]\n",
			[]string{"1 stage, want a multi-stage build", "no build stage runs `go build`"}},
		{"cgo left on", replace(t, appDockerfile, "RUN CGO_ENABLED=0 go build", "RUN go build"),
			[]string{"`go build` runs without CGO_ENABLED=0"}},
		{"cgo turned back on", replace(t, appDockerfile, "RUN CGO_ENABLED=0 go build", "ENV CGO_ENABLED=0\nRUN CGO_ENABLED=1 go build"),
			[]string{"`go build` runs without CGO_ENABLED=0"}},
		{"cgo off in the final stage only", replace(t, appDockerfile,
			"RUN CGO_ENABLED=0 go build", "RUN go build") + "ENV CGO_ENABLED=0\n",
			[]string{"`go build` runs without CGO_ENABLED=0"}},
		{"not distroless", replace(t, appDockerfile, "gcr.io/distroless/static-debian12:nonroot", "alpine:3.22"),
			[]string{`final stage is FROM "alpine:3.22", want a gcr.io/distroless image`, "final stage runs as root"}},
		{"distroless as root", replace(t, appDockerfile, "static-debian12:nonroot", "static-debian12:latest"),
			[]string{"final stage runs as root: use a :nonroot distroless tag or USER nonroot (65532)"}},
		{"USER root after the nonroot tag", replace(t, appDockerfile, "EXPOSE 8080", "USER root\nEXPOSE 8080"),
			[]string{"final stage runs as USER root, want nonroot (65532)"}},
		{"no ENTRYPOINT", replace(t, appDockerfile, `ENTRYPOINT ["/usr/local/bin/acme"]`+"\n", ""),
			[]string{"final stage has no ENTRYPOINT, want one that runs acme"}},
		{"shell-form ENTRYPOINT", replace(t, appDockerfile, `ENTRYPOINT ["/usr/local/bin/acme"]`, "ENTRYPOINT /usr/local/bin/acme serve"),
			[]string{"uses the shell form, but distroless images have no /bin/sh"}},
		{"ENTRYPOINT runs something else", replace(t, appDockerfile, `ENTRYPOINT ["/usr/local/bin/acme"]`, `ENTRYPOINT ["/usr/local/bin/other"]`),
			[]string{"does not run the acme binary"}},
	}
	for _, tt := range broken {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantErr(t, CheckAppDockerfile([]byte(tt.content), "acme"), tt.want...)
		})
	}
}
