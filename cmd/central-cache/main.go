// Command central-cache serves the Cache service as the central cache: the
// authoritative store of the sessions' shared data (gRPC :2337, HTTP
// :2338). Configuration comes from --config FILE, ALPCRUNCH_<KEY>
// variables and --<key> flags.
//
//	central-cache --maxTTL 10m --maxPayload 128MiB
package main

import (
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/daemon"
)

func main() { daemon.Main("central-cache", centralcache.LoadConfig, centralcache.Run) }
