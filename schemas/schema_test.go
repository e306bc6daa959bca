package schemas

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

func TestResponseSchemaCompiles(t *testing.T) {
	s, err := compiledResponseSchema()
	if err != nil {
		t.Fatalf("compiledResponseSchema() error: %v", err)
	}
	if s == nil || s.Properties["recommendations"] == nil || s.Properties["recommendations"].Items2020 == nil {
		t.Fatalf("compiled schema lacks recommendations/items: %+v", s)
	}
	if s.Draft != jsonschema.Draft2020 {
		t.Errorf("compiled draft = %v; want 2020-12", s.Draft)
	}
}

func TestResponseSchemaIsACopy(t *testing.T) {
	a := ResponseSchema()
	if !json.Valid(a) {
		t.Fatal("ResponseSchema() is not valid JSON")
	}
	a[0] = 'X'
	if b := ResponseSchema(); b[0] != '{' {
		t.Errorf("changing the returned slice changed the embedded schema: %q", b[:10])
	}
}

// TestSchemaStrictShape checks the properties OpenAI strict mode needs in the
// file itself: every object closes additionalProperties and requires every
// property; optional values are nullable, not omitted.
func TestSchemaStrictShape(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(ResponseSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	checkStrictObjects(t, "#", doc)
	items := doc["properties"].(map[string]any)["recommendations"].(map[string]any)["items"].(map[string]any)
	props := items["properties"].(map[string]any)
	for _, name := range []string{"limit_price", "stop_loss", "take_profit"} {
		typ, _ := props[name].(map[string]any)["type"].([]any)
		if !reflect.DeepEqual(typ, []any{"number", "null"}) {
			t.Errorf("%s type = %v; want [number null]", name, typ)
		}
	}
}

func checkStrictObjects(t *testing.T, at string, s map[string]any) {
	t.Helper()
	if s["type"] == "object" {
		if s["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties = %v; want false", at, s["additionalProperties"])
		}
		props, _ := s["properties"].(map[string]any)
		var names []string
		for n := range props {
			names = append(names, n)
		}
		var req []string
		for _, r := range s["required"].([]any) {
			req = append(req, r.(string))
		}
		sort.Strings(names)
		sort.Strings(req)
		if !slices.Equal(names, req) {
			t.Errorf("%s: required = %v; want every property %v", at, req, names)
		}
		for n, p := range props {
			checkStrictObjects(t, at+"/properties/"+n, p.(map[string]any))
		}
	}
	if it, ok := s["items"].(map[string]any); ok {
		checkStrictObjects(t, at+"/items", it)
	}
}

func TestOpenAISchema(t *testing.T) {
	got, err := OpenAISchema()
	if err != nil {
		t.Fatalf("OpenAISchema() error: %v", err)
	}
	checkStrictObjects(t, "#", got)
	var walk func(at string, s map[string]any)
	walk = func(at string, s map[string]any) {
		for k, v := range s {
			if !openAIKeywords[k] {
				t.Errorf("%s: keyword %q kept; OpenAI strict mode rejects it", at, k)
			}
			switch k {
			case "properties":
				for n, p := range v.(map[string]any) {
					walk(at+"/properties/"+n, p.(map[string]any))
				}
			case "items":
				walk(at+"/items", v.(map[string]any))
			}
		}
	}
	walk("#", got)
	for _, k := range []string{"$schema", "$id"} {
		if _, ok := got[k]; ok {
			t.Errorf("OpenAISchema() kept %s", k)
		}
	}
	rec := got["properties"].(map[string]any)["recommendations"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)
	if e := rec["action"].(map[string]any)["enum"]; !reflect.DeepEqual(e, []any{"buy", "sell", "hold"}) {
		t.Errorf("action enum = %v; want [buy sell hold]", e)
	}
	if _, ok := rec["confidence"].(map[string]any)["maximum"]; ok {
		t.Error("confidence kept maximum")
	}
	// A fresh map each call: callers may change theirs.
	got["title"] = "changed"
	again, _ := OpenAISchema()
	if again["title"] == "changed" {
		t.Error("OpenAISchema() returned a shared map")
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("json.Marshal(OpenAISchema()) error: %v", err)
	}
}
