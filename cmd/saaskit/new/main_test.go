package new

import (
	"testing"

	"github.com/saaskit/saaskit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
