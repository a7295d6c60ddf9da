// Command pause holds a pod's namespaces open, like registry.k8s.io/pause: as the pod's
// PID 1 it reaps orphaned children and exits 0 on SIGINT or SIGTERM. Built static
// (CGO_ENABLED=0) so its image can be FROM scratch.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
