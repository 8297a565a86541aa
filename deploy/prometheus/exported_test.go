package prometheus_test

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// Labels a scrape adds (job, instance, the Kubernetes namespace) and the
// histogram bucket label: not the services' own.
var scrapeLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "le": true}

// Metrics the rules and dashboard use that these services' registries do
// not hold in this tree: alpcrun_tasks_outstanding and alpcrun_build_info
// come with the admin work of issue 15. A missing one is logged; once
// exported, it is checked like every other.
var notYetExported = map[string]bool{"alpcrun_build_info": true}

var seriesSyntax = regexp.MustCompile(`^(\w+)\{(.*)\}$`)
var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

// TestSeriesAreExported checks the test series (testdata/cluster.yaml, the
// input of alerts_test.yaml) against what the real queue manager, central
// cache and node cache register: each alpcrun_ series must be a metric they
// export, with the same labels and label values, so that the tests' queries
// run on series shaped like production's.
func TestSeriesAreExported(t *testing.T) {
	exported := map[string][]string{} // metric name: its label sets
	gather := func(reg *prometheus.Registry) {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				exported[f.GetName()] = append(exported[f.GetName()], labelSet(m.GetLabel()))
			}
			if f.GetType() == dto.MetricType_HISTOGRAM {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					exported[f.GetName()+suffix] = exported[f.GetName()]
				}
			}
		}
	}

	qmReg := prometheus.NewRegistry()
	qmOpts := queuemanager.DefaultOptions()
	qmOpts.Registerer = qmReg
	qm, err := queuemanager.New(qmOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer qm.Close()
	gather(qmReg)

	ccReg := prometheus.NewRegistry()
	ccOpts := centralcache.DefaultOptions()
	ccOpts.Registerer = ccReg
	cc, err := centralcache.New(ccOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	gather(ccReg)

	// The node cache dials its upstream lazily; no call is made here.
	conn, err := grpc.NewClient("passthrough:///central-cache", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ncReg := prometheus.NewRegistry()
	ncOpts := nodecache.DefaultOptions()
	ncOpts.Upstream, ncOpts.Registerer = pb.NewCacheClient(conn), ncReg
	nc, err := nodecache.New(ncOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	gather(ncReg)

	var all []series
	readYAML(t, "testdata/cluster.yaml", &all)
	var tests unitTests
	readYAML(t, "alerts_test.yaml", &tests)
	for _, ut := range tests.Tests {
		all = append(all, ut.InputSeries...)
	}
	logged := map[string]bool{}
	for _, s := range all {
		m := seriesSyntax.FindStringSubmatch(s.Series)
		if m == nil {
			t.Errorf("series %s: not name{labels}", s.Series)
			continue
		}
		name := m[1]
		if !strings.HasPrefix(name, "alpcrun_") {
			continue
		}
		sets, ok := exported[name]
		if !ok {
			if notYetExported[name] {
				if logged[name] {
					continue
				}
				logged[name] = true
				t.Logf("%s is not exported by this tree's services yet", name)
			} else {
				t.Errorf("series %s: the services export no metric %s", s.Series, name)
			}
			continue
		}
		var own []*dto.LabelPair
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			if !scrapeLabels[p[1]] {
				own = append(own, &dto.LabelPair{Name: &p[1], Value: &p[2]})
			}
		}
		if got := labelSet(own); !slices.Contains(sets, got) {
			t.Errorf("series %s: labels {%s} are none of those %s is exported with: %q", s.Series, got, name, sets)
		}
	}
}

// labelSet is a canonical text of a metric's labels.
func labelSet(pairs []*dto.LabelPair) string {
	var s []string
	for _, p := range pairs {
		s = append(s, p.GetName()+"="+p.GetValue())
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
