//go:build gateinject

package queuemanager

import (
	"os"
	"time"
)

// GateInjectDelayEnv names the environment variable that plants a
// regression for make gate's self-test (scripts/gate_test.sh): a duration
// such as 200us that every worker sender sleeps before each batch it sends.
// It exists only in builds with tag gateinject (the gate's test binaries);
// elsewhere the hook is an empty function (inject_off.go).
const GateInjectDelayEnv = "ALPCRUN_GATE_INJECT_DELAY"

var injectDelay, injectOn = func() (time.Duration, bool) {
	d, err := time.ParseDuration(os.Getenv(GateInjectDelayEnv))
	return d, err == nil && d > 0
}()

// injectDispatchDelay is the hook in sendTasks.
func injectDispatchDelay() {
	if injectOn {
		time.Sleep(injectDelay)
	}
}
