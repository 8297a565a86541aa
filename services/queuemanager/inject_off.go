//go:build !gateinject

package queuemanager

// injectTaskCPU is the planted-regression hook of make gate's self-test and
// power runs; without tag gateinject it does nothing and inlines away.
func injectTaskCPU(int) {}
