//go:build !gateinject

package queuemanager

// injectDispatchDelay is the planted-regression hook of make gate's
// self-test; without tag gateinject it does nothing and inlines away.
func injectDispatchDelay() {}
