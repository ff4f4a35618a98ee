package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/template"
)

// File is one file of a plan: a slash-separated path relative to the
// repository root, its content and permission bits.
type File struct {
	Path    string
	Content []byte
	Mode    fs.FileMode
	// Generated marks output of a generator run over other files (sqlc):
	// an upgrade regenerates it rather than merging it.
	Generated bool
}

// Plan is a rendered repository, in memory, sorted by path.
type Plan struct {
	Files []File
	// Migrations are the path patterns of the blueprint's database
	// migrations (see IsMigration). They travel with the plan so that a
	// transition can protect applied migrations without loading the
	// blueprint itself; a plan read from disk has none.
	Migrations []string
}

// IsMigration reports whether a path is one of the plan's database
// migrations, which an upgrade never rewrites once they may have been
// applied.
func (p *Plan) IsMigration(name string) bool {
	for _, pat := range p.Migrations {
		if matchPath(pat, name) {
			return true
		}
	}
	return false
}

// Renderer renders a record: the one way every command, test and tool turns
// a .saaskit.yaml (blueprint, answers, resources, kit version) into a Plan.
// The kit's own implementation runs in process over the embedded templates;
// others run an older saaskit, or read a render from a directory.
type Renderer interface {
	Render(ctx context.Context, rec *Record) (*Plan, error)
}

// File returns the planned file at p, or nil.
func (p *Plan) File(name string) *File {
	i := sort.Search(len(p.Files), func(i int) bool { return p.Files[i].Path >= name })
	if i < len(p.Files) && p.Files[i].Path == name {
		return &p.Files[i]
	}
	return nil
}

func (p *Plan) add(f File) {
	if f.Mode == 0 {
		f.Mode = 0o644
	}
	p.Files = append(p.Files, f)
}

func (p *Plan) sort() {
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Path < p.Files[j].Path })
}

// Input is everything a render depends on: a record's content, with the
// answers complete. The same Input always gives a byte-identical Plan.
type Input struct {
	Answers    Answers
	KitVersion string
	// Resources are carried into the plan's record, and each renders the
	// resource templates (paths with a __resource__ segment) once.
	Resources []Resource
}

const (
	partialsDir = "_partials"
	tmplSuffix  = ".tmpl"
	nameSegment = "__name__"
	// resourceToken in a template's path makes it a resource template,
	// rendered once per recorded resource with the token replaced by the
	// resource's name; migrationToken in its path becomes the resource's
	// migration version.
	resourceToken  = "__resource__"
	migrationToken = "__migration__"
)

// Render is the pure core of the engine: it turns a blueprint, its template
// tree and the input into a Plan of templates rendered, Go formatted,
// go.mod and go.sum from the lock, and the .saaskit.yaml record. It starts
// no process and touches no disk, so anything can call and test it.
//
// The query code sqlc generates is not part of it: that is the tooling
// stage, GenerateQueryCode, which a complete render (the kit's Renderer)
// runs over the plan Render returns.
func Render(bp *Blueprint, tree fs.FS, in Input) (*Plan, error) {
	if err := bp.Validate(in.Answers); err != nil {
		return nil, err
	}
	plan, err := renderTemplates(bp, tree, in)
	if err != nil {
		return nil, err
	}
	if err := addModuleFiles(plan, bp, in.Answers); err != nil {
		return nil, err
	}
	rec, err := in.record(bp).Marshal()
	if err != nil {
		return nil, err
	}
	plan.add(File{Path: RecordFile, Content: rec})
	plan.Migrations = bp.Migrations
	plan.sort()
	return plan, nil
}

// renderTemplates renders the template tree alone, without module files,
// record or sqlc output.
func renderTemplates(bp *Blueprint, tree fs.FS, in Input) (*Plan, error) {
	data := NewData(bp, in.Answers, in.KitVersion)
	resources, err := ResourcesData(in.Resources)
	if err != nil {
		return nil, err
	}
	data.Resources = resources
	partials, err := parsePartials(bp, tree, in.Answers)
	if err != nil {
		return nil, err
	}
	// The walk only lists the files; rendering them (template execution
	// and formatting, most of a render's time) runs on every core.
	type job struct {
		name     string
		resource int // index in resources, or -1 for a shared template
	}
	var jobs []job
	err = fs.WalkDir(tree, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name == partialsDir {
				return fs.SkipDir
			}
			return nil
		}
		if !bp.included(name, in.Answers) {
			return nil
		}
		if !strings.Contains(name, resourceToken) {
			jobs = append(jobs, job{name, -1})
			return nil
		}
		for i := range resources {
			if resources[i].Sample && strings.Contains(name, migrationToken) {
				continue // the sample's table has migrations of its own
			}
			jobs = append(jobs, job{name, i})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	render := func(j job) (File, error) {
		name, data := j.name, data
		src, err := fs.ReadFile(tree, name)
		if err != nil {
			return File{}, err
		}
		if j.resource >= 0 {
			data.Resource = resources[j.resource]
		}
		out := outputPath(name, data)
		content := src
		if strings.HasSuffix(name, tmplSuffix) {
			content, err = execTemplate(bp, partials, name, string(src), data)
			if err != nil {
				return File{}, err
			}
		}
		if strings.HasSuffix(out, ".go") {
			content, err = formatGo(name, out, content, data.Module)
			if err != nil {
				return File{}, err
			}
		}
		return File{Path: out, Content: content}, nil
	}
	files := make([]File, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for i := range next {
				files[i], errs[i] = render(jobs[i])
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	// The first failing file in walk order, so the error is the same
	// from run to run.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	plan := &Plan{}
	owner := map[string]string{}
	for i, f := range files {
		plan.add(f)
		if r := jobs[i].resource; r >= 0 {
			owner[f.Path] = resources[r].Name
		}
	}
	plan.sort()
	for i := 1; i < len(plan.Files); i++ {
		if plan.Files[i].Path == plan.Files[i-1].Path {
			return nil, fmt.Errorf("two templates render to %s", plan.Files[i].Path)
		}
	}
	if err := checkDeclarations(plan.Files, owner); err != nil {
		return nil, err
	}
	return plan, nil
}

// outputPath maps a template path to the generated path: __name__ is the
// app's name; in a resource template __resource__ is the resource's name
// and __migration__ its migration version.
func outputPath(name string, data Data) string {
	name = strings.TrimSuffix(name, tmplSuffix)
	if strings.Contains(name, resourceToken) {
		name = strings.ReplaceAll(name, migrationToken, data.Resource.Migration)
		name = strings.ReplaceAll(name, resourceToken, data.Resource.Name)
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if p == nameSegment {
			parts[i] = data.Name
		}
	}
	return path.Join(parts...)
}

// parsePartials parses the shared {{define}} fragments. Like any template
// file, a partial claimed by a blueprint group is parsed only when its group
// holds, so each value's partial can define the same names (a broker's
// compose service, its README section) and shared templates call them
// without naming the value.
func parsePartials(bp *Blueprint, tree fs.FS, a Answers) (*template.Template, error) {
	root := template.New("").Option("missingkey=error").Funcs(funcMap())
	names, err := fs.Glob(tree, partialsDir+"/*"+tmplSuffix)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !bp.included(n, a) {
			continue
		}
		src, err := fs.ReadFile(tree, n)
		if err != nil {
			return nil, err
		}
		if _, err := root.New(n).Parse(string(src)); err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
	}
	return root, nil
}

// execTemplate renders one template file in its own set cloned from the
// partials, so names defined in different files cannot collide.
func execTemplate(bp *Blueprint, partials *template.Template, name, src string, data Data) ([]byte, error) {
	set, err := partials.Clone()
	if err != nil {
		return nil, err
	}
	left, right := bp.delims(name)
	t, err := set.New(name).Delims(left, right).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		var ee template.ExecError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("template %s: %w", name, ee.Err)
		}
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
