package httpapi_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleSeq numbers the sample values of the resource tests, so that
// unique fields get values of their own.
var sampleSeq atomic.Int32

// nextSample returns a number no other sample of this test binary has.
func nextSample() int32 {
	return sampleSeq.Add(1)
}

// jsonOf is v as JSON, for comparing a value sent with the value returned.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}
