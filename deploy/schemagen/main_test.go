package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A swagger document in the shape of Kubernetes': a kind with a required
// field, an optional one, an int-or-string, a quantity and a ref chain.
const swagger = `{"definitions": {
  "io.k8s.api.apps.v1.Widget": {
    "type": "object",
    "required": ["spec"],
    "properties": {
      "apiVersion": {"type": "string"},
      "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}}
    },
    "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Widget"}]
  },
  "io.k8s.api.apps.v1.WidgetSpec": {
    "type": "object",
    "properties": {
      "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    }
  },
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
  "io.k8s.api.core.v1.Gadget": {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Gadget"}]
  },
  "io.k8s.api.core.v1.Unused": {"type": "object", "properties": {}}
}}`

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "swagger.json")
	if err := os.WriteFile(in, []byte(swagger), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "schemas")
	n, err := run(in, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("wrote %d schemas, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(out, "gadget-v1.json")); err != nil {
		t.Errorf("core kind: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(out, "widget-apps-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s["additionalProperties"] != false {
		t.Errorf("root additionalProperties = %v, want false", s["additionalProperties"])
	}
	props := s["properties"].(map[string]any)
	if got := props["apiVersion"].(map[string]any)["type"]; !reflect.DeepEqual(got, []any{"string", "null"}) {
		t.Errorf("optional field type = %v, want [string null]", got)
	}
	if got := props["labels"].(map[string]any)["additionalProperties"]; !reflect.DeepEqual(got, map[string]any{"type": "string"}) {
		t.Errorf("a map's additionalProperties was changed to %v", got)
	}
	defs := s["definitions"].(map[string]any)
	if len(defs) != 3 {
		t.Errorf("definitions %v: want the closure of Widget, 3", keys(defs))
	}
	if got := defs["io.k8s.api.apps.v1.WidgetSpec"].(map[string]any)["additionalProperties"]; got != false {
		t.Errorf("nested additionalProperties = %v, want false", got)
	}
	intOrString := map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	if got := defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]; !reflect.DeepEqual(got, intOrString) {
		t.Errorf("IntOrString = %v", got)
	}
	quantity := map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	if got := defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]; !reflect.DeepEqual(got, quantity) {
		t.Errorf("Quantity = %v", got)
	}
}

func TestFileName(t *testing.T) {
	for _, c := range []struct{ group, version, kind, want string }{
		{"apps", "v1", "Deployment", "deployment-apps-v1.json"},
		{"", "v1", "Service", "service-v1.json"},
		{"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler-autoscaling-v2.json"},
		{"networking.k8s.io", "v1", "Ingress", "ingress-networking-v1.json"},
	} {
		if got := fileName(c.group, c.version, c.kind); got != c.want {
			t.Errorf("fileName(%q, %q, %q) = %q, want %q", c.group, c.version, c.kind, got, c.want)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
