package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

func main() {
	failed, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see `go doc test2json`), including
// the build-output and build-fail events of `go test -json` itself.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build events only
}

// pkg is what has been seen of one running package.
type pkg struct {
	output  map[string][]string // by test; "" is the package's own output
	order   []string            // the package's own lines, and "\x00"+test where a test failed or skipped
	failed  map[string]bool
	skipped []string
}

// report prints go test's output, package by package, as results arrive.
type report struct {
	out               io.Writer
	running           map[string]*pkg
	failed            bool
	nFailed, nSkipped int
}

// run reads `go test -json` from in and writes the report to out. failed
// is true when anything failed or never finished.
func run(in io.Reader, out io.Writer) (failed bool, err error) {
	r := &report{out: out, running: map[string]*pkg{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024) // a test may log long lines
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // not an event: pass it on
			continue
		}
		r.handle(e)
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	r.finish()
	return r.failed, nil
}

func (r *report) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		r.failed = true
		return
	}
	if e.Package == "" {
		return
	}
	p := r.running[e.Package]
	if p == nil {
		p = &pkg{output: map[string][]string{}, failed: map[string]bool{}}
		r.running[e.Package] = p
	}
	switch {
	case e.Action == "output":
		p.output[e.Test] = append(p.output[e.Test], e.Output)
		if e.Test == "" {
			p.order = append(p.order, e.Output)
		}
	case e.Test != "" && e.Action == "fail":
		p.failed[e.Test] = true
		p.order = append(p.order, "\x00"+e.Test)
	case e.Test != "" && e.Action == "skip":
		p.skipped = append(p.skipped, e.Test)
	case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
		r.done(p, e.Action == "fail")
		delete(r.running, e.Package)
	}
}

// done prints a finished package: when it failed, its output as go test
// prints it, else only its result line; then its skipped tests with their
// reasons, which go test would not print.
func (r *report) done(p *pkg, failed bool) {
	if failed {
		r.failed = true
		r.nFailed++
		for _, item := range p.order {
			if test, ok := strings.CutPrefix(item, "\x00"); ok {
				r.printTest(p, test, "")
			} else if item != "PASS\n" {
				fmt.Fprint(r.out, item)
			}
		}
	} else {
		for _, l := range p.output[""] {
			// "ok  \tpkg\t0.1s" or "?   \tpkg\t[no test files]", with
			// "(cached)" or coverage as go test wrote them.
			if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "? ") {
				fmt.Fprint(r.out, l)
			}
		}
	}
	for _, test := range p.skipped {
		r.nSkipped++
		r.printTest(p, test, "    ")
	}
}

// printTest prints one test's output the way go test does: its result
// line ("--- FAIL: TestX (0.00s)") first, then what it logged, indented
// by one level per subtest.
func (r *report) printTest(p *pkg, test, indent string) {
	indent += strings.Repeat("    ", strings.Count(test, "/"))
	var result string
	var body []string
	for _, l := range p.output[test] {
		switch {
		case strings.HasPrefix(l, "=== "): // RUN, PAUSE, CONT, NAME: -json only
		case strings.HasPrefix(l, "--- ") && result == "":
			result = l
		default:
			body = append(body, l)
		}
	}
	if result == "" {
		result = "--- " + test + "\n"
	}
	fmt.Fprint(r.out, indent+result)
	for _, l := range body {
		fmt.Fprint(r.out, indent+l)
	}
}

// finish reports the packages that never reported a result and sums up.
func (r *report) finish() {
	for _, name := range slices.Sorted(maps.Keys(r.running)) {
		p := r.running[name]
		for _, l := range p.output[""] {
			fmt.Fprint(r.out, l)
		}
		for _, test := range slices.Sorted(maps.Keys(p.output)) {
			if test != "" {
				r.printTest(p, test, "")
			}
		}
		fmt.Fprintf(r.out, "FAIL\t%s [no result: the test binary stopped early]\n", name)
		r.failed = true
		r.nFailed++
	}
	if r.nSkipped > 0 {
		fmt.Fprintf(r.out, "testreport: skipped tests: %d (--- SKIP above, with the reason)\n", r.nSkipped)
	}
	if r.failed {
		fmt.Fprintf(r.out, "testreport: FAIL: failed packages: %d\n", r.nFailed)
	}
}
