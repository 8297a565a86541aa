package grpctune

import "testing"

// A client that pings more often than the server's enforcement policy
// allows is disconnected with ENHANCE_YOUR_CALM.
func TestKeepaliveWithinPolicy(t *testing.T) {
	if keepaliveTime < keepaliveMinTime {
		t.Fatalf("clients ping every %v, servers allow every %v at most", keepaliveTime, keepaliveMinTime)
	}
}
