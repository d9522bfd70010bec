package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flowbricks/flowbricks/devstack/stack"
)

// The state folder of `devstack up` (--dir, .devstack by default):
//
//	lock         the id of the process running the stack; present while it runs
//	stack.json   every URL and id a person or a script needs (stack.Info); written once ready
//	ca.pem       the stack's CA (the fakes' certificates)
//	handler.log  the handler's output
//	devstack.log the output of a detached stack (up --detach)
//
// lock and stack.json are removed when the stack stops.
const (
	lockFile  = "lock"
	stateFile = "stack.json"
	logFile   = "handler.log"
	upLogFile = "devstack.log"
)

// errRunning: a stack already runs in the state folder.
var errRunning = errors.New("a stack is already running")

// lockHolder returns the id of the live process named in dir's lock file, or 0 when there is no
// lock or its process is gone (a stack that was killed: the lock is stale).
func lockHolder(dir string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(dir, lockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0, nil
	}
	return pid, nil
}

// takeLock makes this process the one running the stack in dir, taking over a stale lock. It
// creates dir if needed and touches nothing else in it.
func takeLock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) {
			pid, herr := lockHolder(dir)
			if herr != nil {
				return nil, herr
			}
			if pid != 0 {
				return nil, runningError(dir, pid)
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue // the lock of a process that is gone: take it over
		}
		if err != nil {
			return nil, err
		}
		_, werr := fmt.Fprintln(f, os.Getpid())
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, werr
		}
		return func() { os.Remove(path) }, nil
	}
	return nil, fmt.Errorf("%s: another devstack took the lock at the same time", path)
}

func runningError(dir string, pid int) error {
	return fmt.Errorf("%w in %s (pid %d); stop it with `devstack down --dir %s`", errRunning, dir, pid, dir)
}

func readInfo(dir string) (stack.Info, error) {
	var info stack.Info
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return info, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// repoRoot is the flowbricks repository around the working directory.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return stack.FindRepoRoot(wd)
}
