package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// clusterFlags are the flags of the commands that talk to a running queue
// manager.
type clusterFlags struct {
	addr, caCert, clientID, output string
	tls                            bool
	timeout                        time.Duration
}

func addClusterCommands(root *cobra.Command) {
	f := &clusterFlags{}
	addr := os.Getenv("METALCORE_QUEUE_MANAGER_ADDR")
	if addr == "" {
		addr = "localhost:1337"
	}
	bind := func(c *cobra.Command) *cobra.Command {
		fs := c.Flags()
		fs.StringVar(&f.addr, "queue-manager", addr, "queue manager address (env METALCORE_QUEUE_MANAGER_ADDR)")
		fs.BoolVar(&f.tls, "tls", false, "dial with TLS")
		fs.StringVar(&f.caCert, "ca-cert", "", "PEM CA bundle that verifies the queue manager (default: system roots)")
		fs.StringVar(&f.clientID, "client-id", "", "see only the sessions of this client_id (when the queue manager requires client ids)")
		fs.StringVarP(&f.output, "output", "o", "table", "output: table or json")
		fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long")
		return c
	}
	session := bind(&cobra.Command{
		Use: "session ID", Short: "Show one session: attributes, task counts, bound workers", Args: cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, a pb.AdminClient, w io.Writer, args []string) error {
			info, err := a.GetSession(ctx, &pb.GetSessionRequest{Id: args[0]})
			if err != nil {
				return err
			}
			return f.print(w, info, func() { printSession(w, info) })
		}),
	})
	session.AddCommand(bind(&cobra.Command{
		Use: "close ID", Short: "Close a session: unbind its workers, discard its queued tasks, results and dead letters", Args: cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, a pb.AdminClient, w io.Writer, args []string) error {
			st, err := a.CloseSession(ctx, &pb.CloseSessionRequest{Id: args[0]})
			if err != nil {
				return err
			}
			return f.print(w, st, func() { fmt.Fprintf(w, "closed %s: %s\n", args[0], st.Message) })
		}),
	}))
	root.AddCommand(
		bind(&cobra.Command{
			Use: "status", Short: "Summarise the queue manager: sessions, workers by state, tasks", Args: cobra.NoArgs,
			RunE: f.run(func(ctx context.Context, a pb.AdminClient, w io.Writer, _ []string) error {
				st, err := a.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
				if err != nil {
					return err
				}
				return f.print(w, st, func() { printStatus(w, f.addr, st) })
			}),
		}),
		bind(&cobra.Command{
			Use: "sessions", Short: "List the open sessions with their task counts", Args: cobra.NoArgs,
			RunE: f.run(func(ctx context.Context, a pb.AdminClient, w io.Writer, _ []string) error {
				ss, err := allPages(func(token string) ([]*pb.SessionInfo, string, error) {
					r, err := a.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: maxPage, PageToken: token})
					return r.GetSessions(), r.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return f.print(w, &pb.ListSessionsResponse{Sessions: ss}, func() { printSessions(w, ss) })
			}),
		}),
		session,
		bind(&cobra.Command{
			Use: "workers", Short: "List the registered workers: state, session, batches in flight, tasks done", Args: cobra.NoArgs,
			RunE: f.run(func(ctx context.Context, a pb.AdminClient, w io.Writer, _ []string) error {
				ws, err := allPages(func(token string) ([]*pb.WorkerInfo, string, error) {
					r, err := a.ListWorkers(ctx, &pb.ListWorkersRequest{PageSize: maxPage, PageToken: token})
					return r.GetWorkers(), r.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return f.print(w, &pb.ListWorkersResponse{Workers: ws}, func() { printWorkers(w, ws) })
			}),
		}),
	)
}

// maxPage is the largest page the Admin service serves.
const maxPage = 1000

// allPages reads a paginated listing to its end.
func allPages[T any](page func(token string) ([]T, string, error)) ([]T, error) {
	var all []T
	for token := ""; ; {
		items, next, err := page(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if token = next; token == "" {
			return all, nil
		}
	}
}

// run dials the queue manager and runs fn with its Admin client.
func (f *clusterFlags) run(fn func(context.Context, pb.AdminClient, io.Writer, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if f.output != "table" && f.output != "json" {
			return fmt.Errorf("--output must be table or json, got %q", f.output)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
		defer cancel()
		var opts []client.Option
		if f.tls {
			opts = append(opts, client.WithTLSFiles(f.caCert, "", ""))
		}
		c, err := client.Dial(ctx, f.addr, opts...)
		if err != nil {
			return err
		}
		defer c.Close()
		if f.clientID != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "clientid", f.clientID)
		}
		return fn(ctx, c.Admin(), cmd.OutOrStdout(), args)
	}
}

// print writes m as JSON with -o json, else calls table.
func (f *clusterFlags) print(w io.Writer, m proto.Message, table func()) error {
	if f.output == "json" {
		b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	table()
	return nil
}

func printStatus(w io.Writer, addr string, st *pb.ClusterStatus) {
	up := time.Since(st.Started.AsTime()).Round(time.Second)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "queue manager\t%s, up %s, %s (revision %s)\n", addr, up, st.Version, st.Revision)
	fmt.Fprintf(tw, "scheduling\tscheduler %s, queues %s\n", st.Scheduler, st.QueueType)
	fmt.Fprintf(tw, "sessions\t%d open\n", st.Sessions)
	fmt.Fprintf(tw, "workers\t%d: %d bound, %d idle, %d draining\n", st.Workers, st.WorkersBound, st.WorkersIdle, st.WorkersDraining)
	fmt.Fprintf(tw, "tasks now\t%d queued, %d in flight, %d dead letters\n", st.TasksQueued, st.TasksInflight, st.TasksDead)
	fmt.Fprintf(tw, "tasks since start\t%d accepted, %d done, %d dead\n", st.TasksAcceptedTotal, st.TasksDoneTotal, st.TasksDeadTotal)
	tw.Flush()
}

// progress is the share of a session's accepted tasks that have an outcome.
func progress(s *pb.SessionInfo) string {
	if s.TasksAccepted == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(s.TasksDone+s.TasksDead)/float64(s.TasksAccepted))
}

func printSessions(w io.Writer, ss []*pb.SessionInfo) {
	if len(ss) == 0 {
		fmt.Fprintln(w, "no open session")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tCLIENT\tPRIO\tWORKERS\tQUEUED\tIN FLIGHT\tDONE\tDEAD\tPROGRESS\tAGE\tIDLE\t")
	for _, s := range ss {
		a := s.Session.GetAttributes()
		idle := s.IdleFor.AsDuration().Round(time.Second).String()
		if s.Idle {
			idle = "idle " + idle
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", s.Session.Id, s.Session.GetApp().GetId(), a.GetClientId(),
			a.GetPriority(), len(s.Workers), s.TasksQueued, s.TasksInflight, s.TasksDone, s.TasksDead, progress(s),
			time.Since(s.Created.AsTime()).Round(time.Second), idle)
	}
	tw.Flush()
}

func printSession(w io.Writer, s *pb.SessionInfo) {
	a := s.Session.GetAttributes()
	limit := func(p *uint32, none string) string {
		if p == nil {
			return none
		}
		return fmt.Sprint(*p)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "session\t%s\n", s.Session.Id)
	fmt.Fprintf(tw, "app\t%s\n", s.Session.GetApp().GetId())
	fmt.Fprintf(tw, "client\t%s\n", a.GetClientId())
	fmt.Fprintf(tw, "priority\t%d%s\n", a.GetPriority(), map[bool]string{true: " (preemptible)"}[a.GetPreemptible()])
	fmt.Fprintf(tw, "workers\tmin %s, max %s, %d in flight each at most\n", limit(a.MinWorkers, "-"), limit(a.MaxWorkers, "unlimited"), a.GetMaxInflightBatchesPerWorker())
	fmt.Fprintf(tw, "tasks\t%d accepted: %d queued, %d in flight, %d done, %d dead (%s)\n", s.TasksAccepted, s.TasksQueued, s.TasksInflight, s.TasksDone, s.TasksDead, progress(s))
	fmt.Fprintf(tw, "batches\t%d queued, %d in flight, %d results unread\n", s.BatchesQueued, s.BatchesInflight, s.ResultsUnread)
	fmt.Fprintf(tw, "created\t%s (%s ago)\n", s.Created.AsTime().Local().Format(time.DateTime), time.Since(s.Created.AsTime()).Round(time.Second))
	state := "client attached"
	if !s.Attached {
		state = "no client attached"
	}
	if s.Idle {
		state += ", idle: workers unbound"
	}
	fmt.Fprintf(tw, "activity\tlast %s ago, %s\n", s.IdleFor.AsDuration().Round(time.Millisecond), state)
	if len(a.GetTags()) > 0 {
		fmt.Fprintf(tw, "tags\t%s\n", strings.Join(a.GetTags(), ", "))
	}
	fmt.Fprintf(tw, "bound workers\t%d\t%s\n", len(s.Workers), strings.Join(s.Workers, " "))
	tw.Flush()
}

func printWorkers(w io.Writer, ws []*pb.WorkerInfo) {
	if len(ws) == 0 {
		fmt.Fprintln(w, "no worker registered")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNODE\tPOD\tSTATE\tSESSION\tIN FLIGHT\tTASKS DONE\tHEARTBEAT\tUP\t")
	for _, x := range ws {
		state := strings.ToLower(x.State.String())
		session := x.SessionId
		if session == "" {
			session = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s ago\t%s\t\n", x.Id, x.Node, x.Pod, state, session, x.InflightBatches, x.TasksDone,
			time.Since(x.LastHeartbeat.AsTime()).Round(time.Millisecond), time.Since(x.Registered.AsTime()).Round(time.Second))
	}
	tw.Flush()
}
