package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/services/allinone"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// alpcrun runs the CLI with args and returns what it printed.
func alpcrun(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestClusterCommands runs status, sessions, session, workers and session
// close against the cluster of `alpcrun up`, with a session open.
func TestClusterCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := allinone.DefaultUpConfig()
	cfg.Workers = 2
	for _, c := range []*struct{ l, h *string }{
		{&cfg.QueueManager.Listen, &cfg.QueueManager.HTTPListen}, {&cfg.CentralCache.Listen, &cfg.CentralCache.HTTPListen},
		{&cfg.NodeCache.Listen, &cfg.NodeCache.HTTPListen},
	} {
		*c.l, *c.h = "127.0.0.1:0", ""
	}
	cfg.LogLevel = "error"
	upCtx, stop := context.WithCancel(ctx)
	ready := make(chan allinone.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- allinone.Up(upCtx, cfg, ready) }()
	var a allinone.Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := client.Dial(ctx, a.QueueManager)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "cli-test"})
	if err != nil {
		t.Fatal(err)
	}
	qm := "--queue-manager=" + a.QueueManager

	out, err := alpcrun(t, ctx, "sessions", qm)
	if err != nil || !strings.Contains(out, s.ID()) || !strings.Contains(out, "cli-test") || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("sessions: %v\n%s", err, out)
	}
	out, err = alpcrun(t, ctx, "sessions", qm, "-o", "json")
	var list struct {
		Sessions []struct {
			Session struct{ ID string }
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Sessions) != 1 || list.Sessions[0].Session.ID != s.ID() {
		t.Fatalf("sessions -o json: %v\n%s", err, out)
	}
	out, err = alpcrun(t, ctx, "session", s.ID(), qm)
	if err != nil || !strings.Contains(out, "app            cli-test") {
		t.Fatalf("session: %v\n%s", err, out)
	}
	out, err = alpcrun(t, ctx, "workers", qm)
	if err != nil || strings.Count(out, "alpcrun-worker-") != 2 {
		t.Fatalf("workers: %v\n%s", err, out)
	}
	out, err = alpcrun(t, ctx, "status", qm)
	if err != nil || !strings.Contains(out, "1 open") || !strings.Contains(out, "workers            2:") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err = alpcrun(t, ctx, "session", "close", s.ID(), qm); err != nil || !strings.Contains(out, "closed "+s.ID()) {
		t.Fatalf("session close: %v\n%s", err, out)
	}
	if out, err = alpcrun(t, ctx, "session", s.ID(), qm); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("session after close: %v\n%s", err, out)
	}
	if _, err = alpcrun(t, ctx, "sessions", qm, "-o", "yaml"); err == nil {
		t.Fatal("-o yaml accepted")
	}
}
