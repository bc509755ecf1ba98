package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	defs := map[string]any{}
	if err := json.Unmarshal([]byte(`{
		"io.k8s.api.core.v1.Service": {"description": "dropped", "type": "object", "properties": {
			"spec": {"$ref": "#/definitions/spec"},
			"labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
		"spec": {"type": "object", "properties": {
			"port": {"format": "int-or-string", "type": "string"},
			"memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
			"description": {"type": "string", "description": "a field called description stays"}}},
		"io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"}
	}`), &defs); err != nil {
		t.Fatal(err)
	}
	got, err := expand(defs["io.k8s.api.core.v1.Service"], defs, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(`{"type": "object", "additionalProperties": false, "properties": {
		"spec": {"type": "object", "additionalProperties": false, "properties": {
			"port": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
			"memory": {"oneOf": [{"type": "string"}, {"type": "number"}]},
			"description": {"type": "string"}}},
		"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("got %s", g)
	}
}

func TestExpandRefusesRecursion(t *testing.T) {
	defs := map[string]any{"a": map[string]any{"type": "object", "properties": map[string]any{"self": map[string]any{"$ref": "#/definitions/a"}}}}
	if _, err := expand(defs["a"], defs, 0); err == nil {
		t.Fatal("a recursive definition expanded")
	}
}

// Every kind the generator knows has a committed, strict schema, so a kind
// added to kinds without running the generator is seen.
func TestCommittedSchemasHaveEveryKind(t *testing.T) {
	for _, file := range kinds {
		data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "helm", "schemas", file))
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s is not strict", file)
		}
	}
}
