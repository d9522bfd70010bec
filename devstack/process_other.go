//go:build !unix

package main

import (
	"os"
	"os/exec"
)

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

func terminate(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func terminateGroup(int) {}

func detach(*exec.Cmd) {}

func groupLeader(int) bool { return false }
