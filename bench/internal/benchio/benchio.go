// Package benchio holds what every benchmark command does alike: pick a
// free port for a child server, and print a result as one JSON line on
// stdout and append it to a results file.
package benchio

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
)

// FreePort returns a TCP port free on loopback right now.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Emit prints v as one JSON line and, when out is set, appends the line
// to out.
func Emit(out string, v any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
	if out == "" {
		return
	}
	if f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, string(line))
		f.Close()
	}
}
