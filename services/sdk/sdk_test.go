package sdk

import "testing"

func TestAddrs(t *testing.T) {
	for _, c := range []struct {
		resolve  func(string) string
		env, def string
	}{
		{QueueManagerAddr, EnvQueueManagerAddr, DefaultQueueManagerAddr},
		{CentralCacheAddr, EnvCentralCacheAddr, DefaultCentralCacheAddr},
		{NodeCacheAddr, EnvNodeCacheAddr, DefaultNodeCacheAddr},
	} {
		t.Setenv(c.env, "")
		if got := c.resolve(""); got != c.def {
			t.Errorf("%s unset: %q, want %q", c.env, got, c.def)
		}
		t.Setenv(c.env, "from-env:1")
		if got := c.resolve(""); got != "from-env:1" {
			t.Errorf("%s set: %q", c.env, got)
		}
		if got := c.resolve("given:2"); got != "given:2" {
			t.Errorf("%s set, address given: %q", c.env, got)
		}
	}
}
