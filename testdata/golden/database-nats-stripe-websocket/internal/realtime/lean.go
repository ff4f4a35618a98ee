package realtime

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of a socket's connection. net/http hijacks a connection
// with 4 KB read and write buffers, which coder/websocket keeps for the
// socket's life: 8 KB an idle socket does not need. A client only sends
// pongs and close frames (a few bytes); an event (its id, type, target and
// time) is about 150 bytes, written with one system call when it fits the
// write buffer and with two when it does not.
const (
	readBufferSize  = 128
	writeBufferSize = 256
)

// leanHijacker is a ResponseWriter whose Hijack hands over the connection
// with buffers of readBufferSize and writeBufferSize. What the client sent
// after its handshake and net/http had read already is kept.
type leanHijacker struct{ http.ResponseWriter }

func (w leanHijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, readBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after the handshake (a client may
		// write as soon as it has the 101): they must be in br's buffer,
		// where coder/websocket takes them from before it resets br onto
		// the connection. Behind another reader they would be dropped,
		// and the frames after them misread.
		read, _ := brw.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(read)), conn), max(readBufferSize, n))
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	if err := brw.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, writeBufferSize)), nil
}
