// Command k8sschema writes the standalone, strict JSON schemas that
// kubeconform validates the Helm chart's output against
// (deploy/helm/schemas), from a Kubernetes OpenAPI v2 document, so that
// CI needs no network to fetch schemas. Each schema has every $ref
// inlined, "additionalProperties": false on every object with properties
// (a misspelt field fails), and int-or-string and Quantity values
// accepting a string or a number, as the API server does.
//
// The committed schemas were made from the Kubernetes v1.27.0 API document
// that the Go module k8s.io/kube-openapi ships as test data:
//
//	go mod download -json k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad   # prints its Dir
//	go run ./scripts/k8sschema -swagger <Dir>/pkg/schemaconv/testdata/swagger.json -out deploy/helm/schemas
//
// Run it again with a newer document when the chart uses a newer field,
// and add a kind to kinds when the chart renders a new one.
package main
