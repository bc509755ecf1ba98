package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// A resource server's request held at the revocation feed is answered as
// soon as the drain begins: it neither delays the shutdown nor turns it
// into a failed one (in-flight requests past http.shutdown_timeout).
func TestServeEndsHeldFeedRequestsAtShutdown(t *testing.T) {
	env := map[string]string{
		"OAUTH2D_BOOTSTRAP":             mustAbs(t, "../../configs/bootstrap.yaml"),
		"OAUTH2D_HTTP_SHUTDOWN_TIMEOUT": "2s",
	}
	inEmptyDir(t)
	base, _, stop := serveUntilReady(t, env)
	feed := func(query string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, base+"/oauth2/revocation-feed?"+query, nil)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth("demo-service", "demo-service-secret") // a resource server in configs/bootstrap.yaml
		return http.DefaultClient.Do(req)
	}
	res, err := feed("")
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Cursor string `json:"cursor"`
	}
	err = json.NewDecoder(res.Body).Decode(&snap)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("snapshot: %d %v", res.StatusCode, err)
	}
	held := make(chan int, 1)
	go func() {
		res, err := feed(url.Values{"cursor": {snap.Cursor}, "wait": {"30"}}.Encode())
		if err != nil {
			held <- 0
			return
		}
		res.Body.Close()
		held <- res.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // let the request be held
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v, want a clean shutdown", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if status := <-held; status != http.StatusOK {
		t.Errorf("the held request was answered %d, want 200", status)
	}
}
