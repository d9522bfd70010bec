// Command echohandler is a stand-in custom handler for the hoststandin tests: it listens on
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT and answers every request with a JSON description of what it
// received (method, path, query, headers, body) and of its process (environment, arguments, directory).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Echo is the answer to every request except GET /, POST /api/exit and /api/redirect.
type Echo struct {
	Method           string              `json:"method"`
	Path             string              `json:"path"`
	EscapedPath      string              `json:"escaped_path"`
	RawQuery         string              `json:"raw_query"`
	Query            map[string][]string `json:"query"`
	Host             string              `json:"host"`
	Header           map[string][]string `json:"header"`
	Body             string              `json:"body"`
	ContentLength    int64               `json:"content_length"`
	TransferEncoding []string            `json:"transfer_encoding"`
	Env              map[string]string   `json:"env"`
	Args             []string            `json:"args"`
	Dir              string              `json:"dir"`
	ReadyProbes      int64               `json:"ready_probes"`
}

func main() {
	crash := flag.Bool("crash", false, "exit with status 3 at once")
	delay := flag.Duration("delay", 0, "wait this long before listening")
	neverListen := flag.Bool("never-listen", false, "never open the port")
	ignoreTerm := flag.Bool("ignore-sigterm", false, "ignore SIGTERM")
	flag.Parse()

	if *crash {
		fmt.Fprintln(os.Stderr, "echohandler: crashing on purpose")
		os.Exit(3)
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if *neverListen {
		time.Sleep(time.Hour)
		return
	}
	time.Sleep(*delay)

	var probes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		fmt.Fprintln(w, "ready")
	})
	// POST /api/exit?code=N ends the process with status N in the middle of the call, like a crash.
	mux.HandleFunc("POST /api/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(os.Stderr, "echohandler: exiting with status %d on request\n", code)
		os.Exit(code)
	})
	mux.HandleFunc("/api/redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/api/elsewhere")
		w.Header().Set("X-Handler", "echohandler")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "FUNCTIONS_") || strings.HasPrefix(k, "ECHO_") {
				env[k] = v
			}
		}
		dir, _ := os.Getwd()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Handler", "echohandler")
		w.WriteHeader(http.StatusTeapot) // a status no host would invent, to show it passes through
		_ = json.NewEncoder(w).Encode(Echo{
			Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Query: r.URL.Query(), Host: r.Host, Header: r.Header, Body: string(body),
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
			Env: env, Args: flag.Args(), Dir: dir, ReadyProbes: probes.Load(),
		})
	})
	addr := "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "echohandler:", err)
		os.Exit(1)
	}
}
