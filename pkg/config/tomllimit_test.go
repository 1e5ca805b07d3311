package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2/unstable"
)

// nestTOML is an inline value nesting depth levels: arrays, or inline
// tables when tables is set.
func nestTOML(depth int, tables bool) string {
	if tables {
		return strings.Repeat("{ a = ", depth) + "1" + strings.Repeat(" }", depth)
	}
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// sampleConfig is a config as an operator writes one.
const sampleConfig = `# mediakit.toml
[api]
secret = "035c73f7-bb6b-4889-a715-d9eb2d1925cc" # from the ZLMediaKit config
allow_origin = "https://console.example.com"

[general]
mediaServerId = 'edge-1'
dataDir = '''/var/lib/mediakit'''
maxStreamWaitMS = 15000
takeover = true

[hook]
enable = true
on_publish = "http://127.0.0.1:8000/hook/on_publish?x=[1]"
retry = 1
`

func TestCheckTOML(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		line int // line of the error; 0: accepted
	}{
		{"sample config", sampleConfig, 0},
		{"empty", "", 0},
		{"arrays at the limit", "a = " + nestTOML(16, false), 0},
		{"arrays over the limit", "a = " + nestTOML(17, false), 1},
		{"inline tables at the limit", "[t]\na = " + nestTOML(16, true), 0},
		{"inline tables over the limit", "[t]\na = " + nestTOML(17, true), 2},
		{"mixed over the limit", "a = " + strings.Repeat("[{b = ", 9) + "1" + strings.Repeat("}]", 9), 1},
		{"siblings do not add up", "a = [" + strings.Repeat(nestTOML(15, false)+", ", 20) + "]", 0},
		{"table headers", "[a.b.c]\nx = 1\n[[d.e]]\ny = [1]\n[[d.e]]\n[\"q[[\".'r{{']\n", 0},
		{"indented array-of-tables header", "  [[a]]\n\t[[a]]\n", 0},
		{"array of arrays across lines", "a = [\n" + strings.Repeat("[", 16) + "1" + strings.Repeat("]", 16) + "\n]\n", 2},
		{"line numbers count every line", "# one\n\n[s] # three\nk = \"\"\"\nfive\n\"\"\"\nm = '''\n\n'''\n# ten\nz = " + nestTOML(17, false), 11},
		{"CRLF", "# one\r\n[s]\r\nk = " + nestTOML(17, false) + "\r\n", 3},

		// brackets that are not nesting
		{"basic string", `a = "` + strings.Repeat("[{", 20) + `"`, 0},
		{"escaped quote", `a = "\"` + strings.Repeat("[", 20) + `"`, 0},
		{"escaped backslash ends the string", `a = "\\" ` + "\nb = " + nestTOML(17, false), 2},
		{"literal string has no escapes", `a = 'C:\' ` + "\nb = " + nestTOML(17, false), 2},
		{"literal string", "a = '" + strings.Repeat("[", 20) + `\'`, 0},
		{"multi-line basic string", "a = \"\"\"\n" + strings.Repeat("[", 20) + "\n\\\"\"\"[[[\n\"\"\"", 0},
		{"multi-line basic line continuation", "a = \"\"\"x \\\n  [[[[[[[[[[[[[[[[[[\"\"\"\nb = " + nestTOML(17, false), 3},
		{"quotes inside the closing delimiter", "a = \"\"\"x\"\"\"\"\"\nb = " + nestTOML(17, false), 2},
		{"multi-line literal string", "a = '''\n" + strings.Repeat("{", 20) + "\n'''", 0},
		{"apostrophes inside the closing delimiter", "a = '''x'''''\nb = " + nestTOML(17, false), 2},
		{"comment", "a = 1 # " + strings.Repeat("[", 20) + "\nb = [1] # ]]]", 0},
		{"comment after a string", "a = \"#\" # \"" + strings.Repeat("[", 20) + "\nb = " + nestTOML(17, false), 2},
		{"hash inside a string", "a = \"#\" \nb = " + nestTOML(17, false), 2},

		// malformed text is the decoder's, but cannot hide nesting
		{"unclosed string ends at the newline", "a = \"" + strings.Repeat("[", 5) + "\nb = " + nestTOML(17, false), 2},
		{"unclosed literal string ends at the newline", "a = '" + strings.Repeat("[", 5) + "\nb = " + nestTOML(17, false), 2},
		{"closers never count below zero", "a = ]]]]]]]]]]]]]]]]]]]]\nb = " + nestTOML(17, false), 2},
		{"unclosed brackets add up across lines", strings.Repeat("a = [\n", 17), 17},
		{"unclosed multi-line string", "a = \"\"\"" + strings.Repeat("[", 20), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTOML([]byte(tt.doc))
			// Where go-toml parses the document, it agrees.
			if depth, ok := parsedDepth([]byte(tt.doc)); ok && (depth > maxTOMLDepth) != (tt.line != 0) {
				t.Errorf("go-toml parses values nested %d deep", depth)
			}
			if tt.line == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := fmt.Sprintf("values nest deeper than 16 levels (line %d)", tt.line)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

func TestCheckTOMLSize(t *testing.T) {
	doc := bytes.Repeat([]byte("# padding\n"), MaxConfigSize/10+1)
	if err := checkTOML(doc[:MaxConfigSize]); err != nil {
		t.Errorf("%d bytes: %v", MaxConfigSize, err)
	}
	err := checkTOML(doc[:MaxConfigSize+1])
	if want := "config file of 1048577 bytes exceeds 1 MiB"; err == nil || err.Error() != want {
		t.Errorf("%d bytes: %v, want %q", MaxConfigSize+1, err, want)
	}
}

// TestCheckTOMLBomb: a megabyte of brackets is refused at the limit
// without allocating.
func TestCheckTOMLBomb(t *testing.T) {
	bomb := append([]byte("a = "), bytes.Repeat([]byte("[{b="), (MaxConfigSize-8)/4)...)
	var err error
	allocs := testing.AllocsPerRun(5, func() { err = checkTOML(bomb) })
	if err == nil || err.Error() != "values nest deeper than 16 levels (line 1)" {
		t.Fatalf("bomb: %v", err)
	}
	// The error message takes a few; a walk that allocated per level
	// would take over 200 000. The race detector adds a few more.
	if allocs > 16 {
		t.Errorf("%v allocations", allocs)
	}
}

var depthErr = regexp.MustCompile(`^values nest deeper than 16 levels \(line ([0-9]+)\)$`)

// FuzzCheckTOML checks checkTOML against go-toml's parser: for documents
// it parses, checkTOML refuses exactly those whose arrays and inline
// tables nest more than 16 levels. For any input, an error is one of the
// two messages, naming a line of the input.
func FuzzCheckTOML(f *testing.F) {
	f.Add([]byte(sampleConfig))
	f.Add([]byte("a = " + nestTOML(17, false)))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkTOML(data)
		if err != nil {
			if len(data) > MaxConfigSize {
				return
			}
			m := depthErr.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q", err)
			}
			if l, _ := strconv.Atoi(m[1]); l < 1 || l > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("error names line %d of %d", l, bytes.Count(data, []byte("\n"))+1)
			}
		}
		depth, ok := parsedDepth(data)
		if !ok {
			return
		}
		if (err != nil) != (depth > maxTOMLDepth) {
			t.Fatalf("values nest %d deep; checkTOML: %v", depth, err)
		}
	})
}

// parsedDepth is how deeply arrays and inline tables nest in a document
// go-toml's parser accepts.
func parsedDepth(data []byte) (int, bool) {
	var p unstable.Parser
	p.Reset(data)
	depth := 0
	for p.NextExpression() {
		if e := p.Expression(); e.Kind == unstable.KeyValue {
			depth = max(depth, nodeDepth(e.Value()))
		}
	}
	return depth, p.Error() == nil
}

func nodeDepth(n *unstable.Node) int {
	if n.Kind != unstable.Array && n.Kind != unstable.InlineTable {
		return 0
	}
	d := 0
	it := n.Children()
	for it.Next() {
		c := it.Node()
		if c.Kind == unstable.KeyValue {
			c = c.Value()
		}
		d = max(d, nodeDepth(c))
	}
	return d + 1
}
