package passing

import "testing"

func TestPasses(t *testing.T) { t.Log("quiet when passing") }

func TestSkips(t *testing.T) {
	t.Skip("prereq: needs chromium: not on PATH; install: apt-get install -y chromium")
}

func TestSub(t *testing.T) {
	t.Run("runs", func(t *testing.T) {})
	t.Run("skips", func(t *testing.T) { t.Skipf("needs a plain redis:// server") })
}
