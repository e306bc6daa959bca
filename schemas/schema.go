package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// responseSchemaJSON is recommendation.schema.json, the JSON Schema
// (draft 2020-12) of a model response.
//
//go:embed recommendation.schema.json
var responseSchemaJSON []byte

// responseSchemaURL is the schema's $id.
const responseSchemaURL = "https://warden.invalid/schemas/recommendation.schema.json"

// ResponseSchema returns the embedded recommendation.schema.json. The slice
// is a copy; callers may keep or change it.
func ResponseSchema() []byte {
	return bytes.Clone(responseSchemaJSON)
}

// compiledResponseSchema compiles the embedded schema once, on first use. A
// test proves it compiles; should it ever not, every ParseResponse fails
// closed with the compile error.
var compiledResponseSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(responseSchemaURL, bytes.NewReader(responseSchemaJSON)); err != nil {
		return nil, fmt.Errorf("schemas: load recommendation.schema.json: %w", err)
	}
	s, err := c.Compile(responseSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("schemas: compile recommendation.schema.json: %w", err)
	}
	return s, nil
})

// openAIKeywords are the schema keywords kept by OpenAISchema. The list is
// the subset OpenAI strict structured outputs has accepted from the start;
// the bounds (minLength, maxLength, pattern, minimum, maximum,
// exclusiveMinimum, minItems, maxItems) were rejected by strict mode when it
// launched and are dropped: the descriptions state them to the model, and
// ParseResponse enforces them whatever the model sends.
var openAIKeywords = map[string]bool{
	"type":                 true,
	"properties":           true,
	"required":             true,
	"additionalProperties": true,
	"items":                true,
	"enum":                 true,
	"const":                true,
	"anyOf":                true,
	"$defs":                true,
	"$ref":                 true,
	"description":          true,
	"title":                true,
}

// OpenAISchema returns the response schema for an OpenAI response_format of
// type json_schema with strict: true: the same structure as
// recommendation.schema.json (every property required, nullable where
// optional, additionalProperties false everywhere) without $schema, $id and
// the keywords strict mode rejects. Each call returns a fresh map.
func OpenAISchema() (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(responseSchemaJSON, &doc); err != nil {
		return nil, fmt.Errorf("schemas: decode recommendation.schema.json: %w", err)
	}
	return openAISubschema(doc), nil
}

// openAISubschema filters one schema object, recursing through the
// keywords whose values are schemas or maps of schemas.
func openAISubschema(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		if !openAIKeywords[k] {
			continue
		}
		switch k {
		case "properties", "$defs":
			if m, ok := v.(map[string]any); ok {
				sub := make(map[string]any, len(m))
				for name, sv := range m {
					if sm, ok := sv.(map[string]any); ok {
						sub[name] = openAISubschema(sm)
					} else {
						sub[name] = sv
					}
				}
				v = sub
			}
		case "items", "additionalProperties":
			if sm, ok := v.(map[string]any); ok {
				v = openAISubschema(sm)
			}
		case "anyOf":
			if list, ok := v.([]any); ok {
				sub := make([]any, len(list))
				for i, sv := range list {
					if sm, ok := sv.(map[string]any); ok {
						sub[i] = openAISubschema(sm)
					} else {
						sub[i] = sv
					}
				}
				v = sub
			}
		}
		out[k] = v
	}
	return out
}
