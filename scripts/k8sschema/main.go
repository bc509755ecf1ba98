package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// kinds are the resources the chart renders, by OpenAPI definition, and
// the file kubeconform looks them up by: {{ .ResourceKind }}{{ .KindSuffix }}.json.
var kinds = map[string]string{
	"io.k8s.api.apps.v1.Deployment":                     "deployment-apps-v1.json",
	"io.k8s.api.core.v1.Service":                        "service-v1.json",
	"io.k8s.api.core.v1.ServiceAccount":                 "serviceaccount-v1.json",
	"io.k8s.api.policy.v1.PodDisruptionBudget":          "poddisruptionbudget-policy-v1.json",
	"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler": "horizontalpodautoscaler-autoscaling-v2.json",
}

const refPrefix = "#/definitions/"

// maxDepth stops a recursive definition (none of kinds has one) from
// expanding forever.
const maxDepth = 64

func main() {
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 document (swagger.json)")
	out := flag.String("out", "deploy/helm/schemas", "directory to write the schemas to")
	flag.Parse()
	if err := run(*swagger, *out); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(swagger, out string) error {
	if swagger == "" {
		return errors.New("-swagger is required")
	}
	raw, err := os.ReadFile(swagger)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", swagger, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for def, file := range kinds {
		schema, ok := doc.Definitions[def]
		if !ok {
			return fmt.Errorf("%s: no definition %s", swagger, def)
		}
		expanded, err := expand(schema, doc.Definitions, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", def, err)
		}
		expanded["$schema"] = "http://json-schema.org/schema#"
		data, err := json.MarshalIndent(expanded, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, file), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// expand returns a copy of the schema node s with every $ref inlined,
// descriptions dropped (they make up most of the size) and the strict
// and Kubernetes rules of the package comment applied.
func expand(s any, defs map[string]any, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, errors.New("definitions nest too deep (a recursive type?)")
	}
	node, ok := s.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema node is %T, not an object", s)
	}
	if ref, ok := node["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, refPrefix)
		target, ok := defs[name]
		if !ok {
			return nil, fmt.Errorf("unknown $ref %s", ref)
		}
		if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
			return oneOf("string", "number"), nil
		}
		return expand(target, defs, depth+1)
	}
	if node["format"] == "int-or-string" {
		return oneOf("string", "integer"), nil
	}
	outNode := map[string]any{}
	for key, value := range node {
		switch key {
		case "description":
			// dropped
		case "properties":
			props := map[string]any{}
			for name, p := range value.(map[string]any) {
				e, err := expand(p, defs, depth+1)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				props[name] = e
			}
			outNode[key] = props
		case "items":
			e, err := expand(value, defs, depth+1)
			if err != nil {
				return nil, err
			}
			outNode[key] = e
		case "additionalProperties":
			if _, isSchema := value.(map[string]any); isSchema {
				e, err := expand(value, defs, depth+1)
				if err != nil {
					return nil, err
				}
				outNode[key] = e
			} else {
				outNode[key] = value
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, item := range value.([]any) {
				e, err := expand(item, defs, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, e)
			}
			outNode[key] = list
		default:
			outNode[key] = value
		}
	}
	if _, hasProps := outNode["properties"]; hasProps {
		if _, set := outNode["additionalProperties"]; !set {
			outNode["additionalProperties"] = false
		}
	}
	return outNode, nil
}

func oneOf(types ...string) map[string]any {
	var list []any
	for _, t := range types {
		list = append(list, map[string]any{"type": t})
	}
	return map[string]any{"oneOf": list}
}
