"""What executes steps: the stream executor (pods and local workers), the local runner, run history."""
