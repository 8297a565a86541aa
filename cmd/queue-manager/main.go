// Command queue-manager serves the Queue service: sessions, queues, the
// scheduler and the worker registry (gRPC :1337, HTTP :1338). Configuration
// comes from --config FILE, ALPCRUNCH_<KEY> variables and --<key> flags.
//
//	queue-manager --queueType lockfree --scheduler fairshare
package main

import (
	"github.com/alpcrun/alpcrun/services/daemon"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

func main() { daemon.Main("queue-manager", queuemanager.LoadConfig, queuemanager.Run) }
