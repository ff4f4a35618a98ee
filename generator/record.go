package generator

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// RecordFile is where a generated repository records how it was generated.
const RecordFile = ".saaskit.yaml"

// RecordSchema is the version of the record's layout, raised when it changes
// incompatibly so that older kits refuse a newer record instead of
// misreading it.
const RecordSchema = 1

// Record is the content of .saaskit.yaml: everything needed to re-render the
// repository exactly as the kit wrote it. `saaskit upgrade` renders the
// recorded kit version with these answers to get the merge base, then the
// current kit with the same answers; `saaskit config set` changes the answers.
// The record is the render input (see Renderer). Resources are what
// `saaskit add resource` appends; every render renders the resource
// templates once for each, and every transition keeps them.
type Record struct {
	Schema     int        `yaml:"schema"`
	KitVersion string     `yaml:"kit_version"`
	Blueprint  string     `yaml:"blueprint"`
	Answers    Answers    `yaml:"answers"`
	Resources  []Resource `yaml:"resources"`
}

// Resource is one `saaskit add resource` invocation, replayed on re-render:
// the name and the fields as given (see FieldsHelp), parsed again by the
// kit that renders it.
type Resource struct {
	Name   string `yaml:"name"`
	Fields string `yaml:"fields"`
}

// NewRecord is the record of a new repository: blueprint rendered by kit
// version kitVersion with answers, and no resources yet.
func NewRecord(blueprint, kitVersion string, answers Answers) *Record {
	return &Record{
		Schema:     RecordSchema,
		KitVersion: kitVersion,
		Blueprint:  blueprint,
		Answers:    answers.Clone(),
		Resources:  []Resource{},
	}
}

// Clone returns a copy of the record that shares nothing with it, for a
// command to change into the next record.
func (r *Record) Clone() *Record {
	c := *r
	c.Answers = r.Answers.Clone()
	c.Resources = append([]Resource{}, r.Resources...)
	return &c
}

// record is the record a render of bp with in writes.
func (in Input) record(bp *Blueprint) *Record {
	r := NewRecord(bp.Name, in.KitVersion, in.Answers)
	r.Resources = append(r.Resources, in.Resources...)
	return r
}

const recordHeader = `# Written by saaskit: how this repository was generated. ` + "`saaskit upgrade`" + `
# re-renders from it; change options with ` + "`saaskit config set key=value`" + `.
`

// Marshal encodes the record, answers in key order, so equal records give
// equal bytes.
func (r *Record) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(recordHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode %s: %w", RecordFile, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", RecordFile, err)
	}
	return buf.Bytes(), nil
}

// ParseRecord decodes .saaskit.yaml, refusing unknown fields and layouts
// newer than this kit understands.
func ParseRecord(data []byte) (*Record, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", RecordFile, err)
	}
	switch {
	case r.Schema > RecordSchema:
		return nil, fmt.Errorf("%s has schema %d; this saaskit reads up to %d, upgrade saaskit", RecordFile, r.Schema, RecordSchema)
	case r.Schema < 1:
		return nil, fmt.Errorf("%s: missing or invalid schema", RecordFile)
	case r.KitVersion == "" || r.Blueprint == "":
		return nil, errors.New(RecordFile + ": kit_version and blueprint are required")
	}
	if r.Answers == nil {
		r.Answers = Answers{}
	}
	return &r, nil
}
