// Command schemagen turns the Kubernetes OpenAPI v2 document (swagger.json
// of the k8s.io/kubernetes module) into the strict JSON schemas kubeconform
// reads, one file per group/version/kind, named as kubeconform's
// {{ .ResourceKind }}{{ .KindSuffix }}.json template expects
// (deployment-apps-v1.json, service-v1.json, ...):
//
//	schemagen -in swagger.json -out schemas/
//	kubeconform -strict -schema-location 'schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json' manifests.yaml
//
// It makes what kubeconform's openapi2jsonschema makes, without Python:
// every object with properties gets additionalProperties: false (unknown
// fields are errors, as in kubectl's strict validation), int-or-string
// fields accept an integer or a string, quantities a number or a string,
// and fields that are not required may be null. Each file is standalone:
// it carries the definitions it refers to, so refs resolve offline.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	in := flag.String("in", "", "Kubernetes swagger.json `file` (required)")
	out := flag.String("out", "", "output `directory` (required)")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "schemagen: -in and -out are required")
		os.Exit(2)
	}
	n, err := run(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("schemagen: wrote %d schemas to %s\n", n, *out)
}

// quantity is resource.Quantity's definition, which the document gives as
// a string although manifests write "cpu: 1".
const quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"

func run(in, out string) (int, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("schemagen: %s: %w", in, err)
	}
	if len(doc.Definitions) == 0 {
		return 0, fmt.Errorf("schemagen: %s has no definitions", in)
	}
	defs := make(map[string]any, len(doc.Definitions))
	for name, d := range doc.Definitions {
		if name == quantity {
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
			continue
		}
		defs[name] = strict(d)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}

	names := make([]string, 0, len(doc.Definitions))
	for name := range doc.Definitions {
		names = append(names, name)
	}
	slices.Sort(names)
	written := map[string]string{} // file -> definition
	for _, name := range names {
		gvks, _ := doc.Definitions[name]["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			if version == "" || kind == "" {
				return 0, fmt.Errorf("schemagen: %s: bad x-kubernetes-group-version-kind %v", name, gvk)
			}
			file := fileName(group, version, kind)
			if prev, ok := written[file]; ok {
				if prev != name {
					return 0, fmt.Errorf("schemagen: %s and %s both map to %s", prev, name, file)
				}
				continue
			}
			written[file] = name
			if err := write(filepath.Join(out, file), name, defs); err != nil {
				return 0, err
			}
		}
	}
	return len(written), nil
}

// fileName is the name kubeconform looks for: the kind and "-" plus the
// first label of the group (none for the core group) and the version, all
// lower-case.
func fileName(group, version, kind string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		first, _, _ := strings.Cut(group, ".")
		suffix = "-" + strings.ToLower(first) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

// write writes definition name as a standalone schema: the definition at
// the top, and every definition it refers to, directly or not, under
// "definitions", where the document's refs (#/definitions/...) point.
func write(path, name string, defs map[string]any) error {
	closure := map[string]any{}
	var visit func(v any)
	visit = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				target := strings.TrimPrefix(ref, "#/definitions/")
				if _, seen := closure[target]; !seen {
					d, ok := defs[target]
					if !ok {
						return
					}
					closure[target] = d
					visit(d)
				}
			}
			for _, x := range v {
				visit(x)
			}
		case []any:
			for _, x := range v {
				visit(x)
			}
		}
	}
	root := map[string]any{}
	for k, v := range defs[name].(map[string]any) {
		root[k] = v
	}
	visit(root)
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	if len(closure) > 0 {
		root["definitions"] = closure
	}
	data, err := json.Marshal(root)
	if err != nil {
		return fmt.Errorf("schemagen: %s: %w", name, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// strict returns a copy of schema v with openapi2jsonschema's strict
// rewrites applied to it and to every schema inside it.
func strict(v map[string]any) any {
	if v["format"] == "int-or-string" {
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	}
	out := make(map[string]any, len(v)+1)
	for k, x := range v {
		switch {
		case k == "properties" || k == "patternProperties":
			m, _ := x.(map[string]any)
			out[k] = each(m)
		case k == "items" || k == "additionalProperties" || k == "not":
			out[k] = sub(x)
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, _ := x.([]any)
			all := make([]any, len(list))
			for i, s := range list {
				all[i] = sub(s)
			}
			out[k] = all
		default: // annotations, defaults, enums and x- extensions are data
			out[k] = x
		}
	}
	props, ok := out["properties"].(map[string]any)
	if !ok {
		return out
	}
	if _, set := out["additionalProperties"]; !set {
		out["additionalProperties"] = false
	}
	required, _ := v["required"].([]any)
	for k, p := range props {
		pm, ok := p.(map[string]any)
		if !ok || slices.Contains(required, any(k)) {
			continue
		}
		if t, ok := pm["type"].(string); ok && t != "null" {
			pm["type"] = []any{t, "null"}
		}
	}
	return out
}

// sub applies strict to x if it is a schema (additionalProperties may be a
// boolean).
func sub(x any) any {
	if m, ok := x.(map[string]any); ok {
		return strict(m)
	}
	return x
}

// each applies strict to every schema of a name -> schema map.
func each(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = sub(x)
	}
	return out
}
