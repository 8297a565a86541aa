package prometheus_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const dashboardPath = "../grafana/alpcrun.json"

// The parts of a Grafana dashboard (JSON model, schemaVersion 36 and later)
// that the test checks.
type (
	dashboard struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
		Panels []panel `json:"panels"`
	}
	variable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"`
		Datasource *datasourceRef  `json:"datasource"`
		IncludeAll bool            `json:"includeAll"`
		AllValue   string          `json:"allValue"`
	}
	panel struct {
		ID         int                      `json:"id"`
		Type       string                   `json:"type"`
		Title      string                   `json:"title"`
		Datasource *datasourceRef           `json:"datasource"`
		GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
		Targets    []target                 `json:"targets"`
		Panels     []panel                  `json:"panels"` // a collapsed row's
	}
	target struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	}
	datasourceRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
)

// query is one PromQL expression of the dashboard, named for promtool's
// report.
type query struct{ name, expr string }

// promDatasource is what every panel and query must name: the dashboard's
// data source variable, so that the dashboard imports into any Grafana.
var promDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

// panelTypes are the Grafana core panels a dashboard may use here.
var panelTypes = map[string]bool{"row": true, "stat": true, "timeseries": true, "gauge": true, "bargauge": true, "table": true, "text": true}

// Grafana's built-in interval variables, given values a rule can parse.
var builtinVars = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

var (
	varRef      = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
)

// TestDashboard checks the dashboard's structure as Grafana reads it, then
// runs each of its queries (and its variables' label_values selectors),
// variables replaced, through promtool against testdata/cluster.yaml: every
// one must parse and answer something.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	queries, err := dashboardQueries(d)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, q := range queries {
		all.WriteString(q.expr + "\n")
	}
	// Each topic of the dashboard, by the metric that carries it.
	for _, m := range []string{
		"alpcrun_tasks_total", "alpcrun_task_latency_seconds_bucket", "alpcrun_tasks_outstanding",
		"alpcrun_workers", "alpcrun_refused_total", "alpcrun_cache_requests_total",
		"alpcrun_scheduler_pass_seconds_bucket", "alpcrun_build_info", `up{job="queue-manager"`,
	} {
		if !strings.Contains(all.String(), m) {
			t.Errorf("no query of the dashboard reads %s", m)
		}
	}
	if err := checkQueries(t, queries); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardCheckFails proves the query check can fail: a query that
// does not parse and one on a misspelled metric are both reported.
func TestDashboardCheckFails(t *testing.T) {
	for _, q := range []query{
		{"unparsable", `sum(rate(alpcrun_tasks_total[5m])`},
		{"misspelled", `sum(rate(alpcrun_task_total[5m]))`},
	} {
		if err := checkQueries(t, []query{q}); err == nil {
			t.Errorf("the %s query %s passed the check", q.name, q.expr)
		} else if !strings.Contains(err.Error(), q.name) {
			t.Errorf("the %s query failed without being named:\n%v", q.name, err)
		}
	}
}

// dashboardQueries checks the structure of d and returns its queries with
// the variables replaced.
func dashboardQueries(d dashboard) ([]query, error) {
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if d.UID == "" || len(d.UID) > 40 {
		fail("uid %q: want 1 to 40 characters", d.UID)
	}
	if d.Title == "" {
		fail("no title")
	}
	// 36 is the first schema whose data source references are objects.
	if d.SchemaVersion < 36 {
		fail("schemaVersion %d: want 36 or later", d.SchemaVersion)
	}

	var queries []query
	values := map[string]string{}
	for k, v := range builtinVars {
		values[k] = v
	}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			if json.Unmarshal(v.Query, &q) != nil || q != "prometheus" {
				fail("variable %s: a data source variable must have query \"prometheus\", has %s", v.Name, v.Query)
			}
		case "query":
			if v.Datasource == nil || *v.Datasource != promDatasource {
				fail("variable %s: datasource %v, want %v", v.Name, v.Datasource, promDatasource)
			}
			var q struct{ Query string }
			if json.Unmarshal(v.Query, &q) != nil {
				json.Unmarshal(v.Query, &q.Query)
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				fail("variable %s: query %s: want label_values(selector, label)", v.Name, v.Query)
				continue
			}
			queries = append(queries, query{"variable_" + v.Name, m[1]})
			if !v.IncludeAll || v.AllValue == "" {
				fail("variable %s: want includeAll with an allValue, so that its default selects everything", v.Name)
			}
		default:
			fail("variable %s: type %q not expected here", v.Name, v.Type)
		}
		values[v.Name] = v.AllValue
	}
	if _, ok := values["datasource"]; !ok {
		fail("no data source variable named datasource")
	}

	ids := map[int]bool{}
	var placed []panel
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID <= 0 || ids[p.ID] {
				fail("%s: id must be positive and unique", where)
			}
			ids[p.ID] = true
			if !panelTypes[p.Type] {
				fail("%s: type %q is not a core panel", where, p.Type)
			}
			g := p.GridPos
			if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				fail("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			for _, o := range placed {
				h := o.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					fail("%s overlaps panel %d %q", where, o.ID, o.Title)
				}
			}
			placed = append(placed, p)
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Type == "text" {
				continue
			}
			if p.Datasource == nil || *p.Datasource != promDatasource {
				fail("%s: datasource %v, want %v", where, p.Datasource, promDatasource)
			}
			if len(p.Targets) == 0 {
				fail("%s: no query", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					fail("%s: refId %q missing or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Datasource == nil || *tg.Datasource != promDatasource {
					fail("%s %s: datasource %v, want %v", where, tg.RefID, tg.Datasource, promDatasource)
				}
				expr := varRef.ReplaceAllStringFunc(tg.Expr, func(ref string) string {
					m := varRef.FindStringSubmatch(ref)
					name := m[1] + m[2]
					v, ok := values[name]
					if !ok {
						fail("%s %s: unknown variable $%s", where, tg.RefID, name)
					}
					return v
				})
				if strings.TrimSpace(expr) == "" {
					fail("%s %s: empty expr", where, tg.RefID)
					continue
				}
				queries = append(queries, query{fmt.Sprintf("panel_%d_%s", p.ID, tg.RefID), expr})
			}
		}
	}
	walk(d.Panels)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s:\n  %s", dashboardPath, strings.Join(errs, "\n  "))
	}
	return queries, nil
}

// checkQueries runs each query through promtool: one rule file holds an
// alert absent(query) per query, named after it, which promtool check rules
// parses; promtool test rules then evaluates them on testdata/cluster.yaml
// and expects none to fire, i.e. every query returns at least one series.
func checkQueries(t *testing.T, queries []query) error {
	t.Helper()
	var cluster []series
	readYAML(t, "testdata/cluster.yaml", &cluster)
	dir := t.TempDir()
	group := ruleGroup{Name: "dashboard"}
	ut := unitTest{Name: "every dashboard query answers on a busy cluster", Interval: "1m", InputSeries: cluster}
	for _, q := range queries {
		group.Rules = append(group.Rules, rule{Alert: q.name, Expr: "absent(" + q.expr + ")"})
		ut.AlertTests = append(ut.AlertTests, alertTest{EvalTime: "10m", AlertName: q.name, ExpAlerts: []any{}})
	}
	writeYAML(t, dir, "dashboard.rules.yaml", ruleFile{Groups: []ruleGroup{group}})
	writeYAML(t, dir, "dashboard.test.yaml", unitTests{
		RuleFiles: []string{"dashboard.rules.yaml"}, EvaluationInterval: "1m", Tests: []unitTest{ut},
	})
	if _, err := promtool(t, dir, "check", "rules", "dashboard.rules.yaml"); err != nil {
		return err
	}
	_, err := promtool(t, dir, "test", "rules", "dashboard.test.yaml")
	return err
}
