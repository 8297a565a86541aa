// Package prometheus_test checks what Prometheus evaluates for ALPCRUN.CH:
// the alert rules (alerts.yaml, its PrometheusRule copy in deploy/k8s) and
// the queries of the Grafana dashboard (deploy/grafana/alpcrun.json), with
// Debian's promtool (package prometheus).
package prometheus_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool runs promtool in dir and returns its output, or an error that
// carries it.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (apt-get install prometheus), as .ci/run does")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// writeYAML marshals v into dir/name.
func writeYAML(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readYAML unmarshals the file at path into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The parts of a promtool rule file and unit-test file that the tests read
// and write.
type (
	ruleFile struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	ruleGroup struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	rule struct {
		Alert string `yaml:"alert"`
		Expr  string `yaml:"expr"`
	}
	unitTests struct {
		RuleFiles          []string   `yaml:"rule_files"`
		EvaluationInterval string     `yaml:"evaluation_interval"`
		Tests              []unitTest `yaml:"tests"`
	}
	unitTest struct {
		Name        string      `yaml:"name"`
		Interval    string      `yaml:"interval"`
		InputSeries []series    `yaml:"input_series"`
		AlertTests  []alertTest `yaml:"alert_rule_test"`
	}
	series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	alertTest struct {
		EvalTime  string `yaml:"eval_time"`
		AlertName string `yaml:"alertname"`
		ExpAlerts []any  `yaml:"exp_alerts"`
	}
)
