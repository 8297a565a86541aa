package prometheus_test

import (
	"reflect"
	"testing"
)

// TestAlertRules checks alerts.yaml with promtool (syntax, then the unit
// tests of alerts_test.yaml) and that the unit tests give every alert a
// case where it fires and one where it stays quiet.
func TestAlertRules(t *testing.T) {
	if _, err := promtool(t, ".", "check", "rules", "alerts.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := promtool(t, ".", "test", "rules", "alerts_test.yaml"); err != nil {
		t.Fatal(err)
	}

	var rules ruleFile
	readYAML(t, "alerts.yaml", &rules)
	var tests unitTests
	readYAML(t, "alerts_test.yaml", &tests)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, ut := range tests.Tests {
		for _, at := range ut.AlertTests {
			if len(at.ExpAlerts) > 0 {
				firing[at.AlertName] = true
			} else {
				quiet[at.AlertName] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !firing[r.Alert] {
				t.Errorf("alerts_test.yaml has no case where %s fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alerts_test.yaml has no case where %s stays quiet", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yaml has no alert")
	}
}

// TestPrometheusRuleMatchesAlerts keeps the PrometheusRule of the
// Kubernetes monitoring overlay equal to alerts.yaml, which the unit tests
// cover: its spec.groups must be alerts.yaml's groups, field for field.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	var file map[string]any
	readYAML(t, "alerts.yaml", &file)
	var obj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       map[string]any
	}
	const path = "../k8s/monitoring/prometheus-rule.yaml"
	readYAML(t, path, &obj)
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", path, obj.APIVersion, obj.Kind)
	}
	if file["groups"] == nil || !reflect.DeepEqual(obj.Spec["groups"], file["groups"]) {
		t.Fatalf("the spec.groups of %s differ from the groups of alerts.yaml: copy them over", path)
	}
}
