package queuemanager

import (
	"context"
	"fmt"
	"testing"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// BenchmarkAdmin measures what the Admin API and the dashboard cost the
// queue manager with many open sessions: one sample of the dashboard's
// history (taken every second), one /api/dashboard answer, and one
// ListSessions page of 1000.
//
//	go test -run XXX -bench Admin -benchtime 20x ./services/queuemanager
func BenchmarkAdmin(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		s, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if _, err := s.sessions.Create(fmt.Sprintf("s%06d", i), "bench", session.Attributes{}, s.now()); err != nil {
				b.Fatal(err)
			}
		}
		a := adminServer{s: s}
		b.Run(fmt.Sprintf("op=sample/sessions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.dash.sample()
			}
		})
		b.Run(fmt.Sprintf("op=data/sessions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var d dashData
			for b.Loop() {
				d = s.dash.data()
			}
			if d.Totals.Sessions != n {
				b.Fatalf("%d sessions, want %d", d.Totals.Sessions, n)
			}
		})
		b.Run(fmt.Sprintf("op=list/sessions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var r *pb.ListSessionsResponse
			for b.Loop() {
				if r, err = a.ListSessions(context.Background(), &pb.ListSessionsRequest{PageSize: 1000}); err != nil {
					b.Fatal(err)
				}
			}
			if len(r.Sessions) != min(n, 1000) {
				b.Fatalf("%d sessions listed", len(r.Sessions))
			}
		})
		s.Close()
	}
}
