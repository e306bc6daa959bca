package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// dupKey is a key given twice in one YAML mapping.
type dupKey struct {
	Key         string
	Line, First int
}

func (d dupKey) String() string {
	return fmt.Sprintf("duplicate key %q (first given on line %d): YAML would keep only the last one", d.Key, d.First)
}

// duplicateKeys lists every key given twice in the same mapping, anywhere
// in the YAML documents of src (merge keys "<<" aside), in file order. YAML
// decoders keep the last value of a repeated key without a word, so a
// policy or tests file with one is refused. Syntax errors are left to the
// decoder that reads the file.
func duplicateKeys(src []byte) []dupKey {
	var out []dupKey
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) || err != nil {
			return out
		}
		out = walkDup(&root, out, 0)
	}
}

// maxYAMLDepth bounds the walk; deeper documents are refused by the
// decoders anyway.
const maxYAMLDepth = 200

func walkDup(n *yaml.Node, out []dupKey, depth int) []dupKey {
	if n == nil || depth > maxYAMLDepth {
		return out
	}
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if first, ok := seen[k.Value]; ok {
				out = append(out, dupKey{Key: k.Value, Line: k.Line, First: first})
				continue
			}
			seen[k.Value] = k.Line
		}
	}
	if n.Kind == yaml.AliasNode {
		return out // the anchored node is walked where it is defined
	}
	for _, c := range n.Content {
		out = walkDup(c, out, depth+1)
	}
	return out
}
