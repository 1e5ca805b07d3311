// Package proxy runs the server's pull proxies (addStreamProxy, and
// on-demand pulls for players waiting on a stream nobody publishes) and
// push proxies (addStreamPusherProxy). Every task the API creates is
// written to the embedded store before the API answers and restored at
// start (failure-modes.md 4); each task has one supervisor goroutine that
// owns its state and retries its source or destination with exponential
// backoff and jitter.
package proxy
