//go:build unix

package main

import (
	"errors"
	"os/exec"
	"syscall"
)

// alive reports whether a process with this id exists (signal 0 checks without sending).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// terminate asks the process to stop, as Ctrl-C would.
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// terminateGroup asks every process left in the group pgid to stop: the handler a detached stack
// started, should the stack have died without stopping it.
func terminateGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) }

// detach makes cmd the leader of a new session: it outlives the terminal and the command that
// started it, and its process group holds everything it starts.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// groupLeader reports whether pid leads its process group (a detached stack does).
func groupLeader(pid int) bool {
	pgid, err := syscall.Getpgid(pid)
	return err == nil && pgid == pid
}
