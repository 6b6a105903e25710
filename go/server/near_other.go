//go:build !unix

package server

import "errors"

// nearTable is the near cache's table of versions (near.go), which needs
// shared memory and descriptor passing: none on this platform.
type nearTable struct{ rofd int }

func openNear(socket string) (*nearTable, error) {
	return nil, errors.New("no shared memory for the near cache on this platform")
}

// CleanNear has no tables to clean on this platform.
func CleanNear() ([]string, error) { return nil, nil }

func (n *nearTable) changed(key string, flushed bool) {}
func (n *nearTable) close()                           {}
